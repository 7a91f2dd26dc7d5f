/**
 * The real Lambda handler, end to end: real FTP probes against Debian's vsftpd on loopback, and
 * the AWS APIs (ELBv2, DynamoDB, Secrets Manager) mocked at the SDK boundary. Asserts the exact
 * ELBv2 calls of deregister, re-register and no-op rounds, and that no secret reaches the logs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConditionalCheckFailedException, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DeregisterTargetsCommand, DescribeTargetHealthCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../../harness/prerequisites';
import { OUT_OF_ROTATION_TAG } from '../../lib/shared/contract';
import { LocalUsers, type LocalVsftpd } from '../../sandbox/local-vsftpd';
import { awsFakes, captureOutput, type Handler, importHandler, probeLines, startBackends } from '../helpers/checker-harness';

const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/NlbFt-Contr-ABC/0123456789abcdef';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:health-AbCdEf';
const USER = 'nlbftphealth';
const PASS = 'Health-Check-S3cret-Value-42';
const BACKENDS = [
  { slot: 0, instanceId: 'i-0aaaaaaaaaaaaaaa0', privateIp: '127.18.4.1' },
  { slot: 1, instanceId: 'i-0bbbbbbbbbbbbbbb1', privateIp: '127.18.4.2' },
];

/** A fake port-21 target group and state table that behave like the real ones. */
const aws = awsFakes(BACKENDS, { [SECRET_ARN]: () => JSON.stringify({ username: USER, password: PASS }) }, TG_ARN);
const { elb, ddb, sm, registered } = aws;
const resetAwsFakes = aws.reset;

describe('health checker handler (real probes, mocked AWS)', () => {
  let root: string;
  let users: LocalUsers;
  let servers: LocalVsftpd[] = [];
  let handler: Handler;

  /** One invocation = one round here (budget 1 s, interval 1 s); returns what it logged (stdout and stderr). */
  const invoke = () => captureOutput(() => handler({}));

  const mutatingElbCalls = aws.mutatingCalls;

  beforeAll(async () => {
    requireTools(['vsftpd']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nlbftp-handler-'));
    users = new LocalUsers(root, { [USER]: PASS });
    users.apply();
    servers = await startBackends(BACKENDS, { allowFile: users.allowFile, passivePortStart: 42000 });
    resetAwsFakes();
    handler = await importHandler({ backends: BACKENDS, controlTargetGroupArn: TG_ARN, healthSecretArn: SECRET_ARN }, 'NlbFtpTest');
  });

  afterAll(async () => {
    for (const v of servers) await v.dispose();
    users?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('a healthy round logs one structured line per backend and changes no target', async () => {
    const out = await invoke();
    const probes = probeLines(out);
    expect(probes.map((p) => p.slot).sort()).toEqual([0, 1]);
    for (const p of probes) {
      expect(p, JSON.stringify(p)).toMatchObject({ ok: true, step: 'quit' });
      expect(p.errorClass).toBeUndefined();
      expect(typeof p.latencyMs).toBe('number');
      expect(p.instanceId).toMatch(/^i-0/);
    }
    expect(mutatingElbCalls()).toHaveLength(0);
    // MetricNames go out as embedded metric format on stdout, with a Slot dimension per backend.
    expect(out).toContain('"ProbeSuccess"');
    expect(out).toMatch(/"Slot":"1"/);
    expect(out).toContain('"CheckerHeartbeat"');
  });

  it('deregisters a backend exactly once, after fall=2 failed rounds, with the exact target', async () => {
    await servers[1].stop();
    resetAwsFakes();
    const first = await invoke();
    expect(first).toMatch(/"slot":1[^\n]*"errorClass":"connect"/);
    expect(mutatingElbCalls()).toHaveLength(0);

    await invoke();
    const calls = elb.commandCalls(DeregisterTargetsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ TargetGroupArn: TG_ARN, Targets: [{ Id: 'i-0bbbbbbbbbbbbbbb1', Port: 21 }] });
    expect(elb.commandCalls(RegisterTargetsCommand)).toHaveLength(0);
    expect(registered.has('i-0bbbbbbbbbbbbbbb1')).toBe(false);

    await invoke();
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(1);
  });

  it('registers it again after rise=2 good rounds, with the exact target', async () => {
    await servers[1].start();
    resetAwsFakes();
    await invoke();
    expect(mutatingElbCalls()).toHaveLength(0);
    await invoke();
    const calls = elb.commandCalls(RegisterTargetsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ TargetGroupArn: TG_ARN, Targets: [{ Id: 'i-0bbbbbbbbbbbbbbb1', Port: 21 }] });
    expect(elb.commandCalls(DeregisterTargetsCommand)).toHaveLength(0);
  });

  it('a steady round makes no mutating call at all: no ELBv2 change and no state write', async () => {
    await invoke(); // counters reach their caps
    resetAwsFakes();
    await invoke();
    await invoke();
    expect(mutatingElbCalls()).toHaveLength(0);
    // The round lease is taken and given back each round; the state item is never rewritten.
    const writes = ddb.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item?.pk?.S);
    expect(writes.filter((pk) => pk === 'checker-state')).toHaveLength(0);
    expect(writes.filter((pk) => pk === 'checker-lease')).toHaveLength(4);
    // One read of the port-21 group per round (and one of each slot's passive group, to find its instance).
    expect(elb.commandCalls(DescribeTargetHealthCommand).filter((c) => c.args[0].input.TargetGroupArn === TG_ARN)).toHaveLength(2);
  });

  it('fail-open: with every backend failing, nothing is deregistered', async () => {
    for (const v of servers) await v.stop();
    try {
      resetAwsFakes();
      const out = (await invoke()) + (await invoke()) + (await invoke());
      expect(mutatingElbCalls()).toHaveLength(0);
      expect(out).toContain('fail-open');
      expect(out).toContain('"FailOpenHold"');
      expect(registered.size).toBe(2);
    } finally {
      for (const v of servers) await v.start();
    }
  });

  it('skips the round, quietly, while another invocation holds the round lease; runs once it lapses', async () => {
    resetAwsFakes();
    const other = { pk: { S: 'checker-lease' }, holder: { S: 'another-invocation' }, expiresAt: { N: String(Date.now() + 60_000) } };
    aws.state.lease = other;
    try {
      const out = await invoke();
      expect(out).toContain('another invocation holds the round lease; skipping');
      expect(out).not.toContain('"level":"ERROR"');
      expect(elb.commandCalls(DescribeTargetHealthCommand)).toHaveLength(0);
      expect(aws.state.lease).toBe(other);
      aws.state.lease = { ...other, expiresAt: { N: String(Date.now() - 1) } };
      await invoke();
      expect(elb.commandCalls(DescribeTargetHealthCommand).length).toBeGreaterThan(0);
      expect(aws.state.lease?.expiresAt?.N).toBe('0'); // released by the holder that ran
    } finally {
      aws.state.lease = undefined;
    }
  });

  it('acts on nothing when another invocation wrote the state first', async () => {
    await servers[1].stop();
    try {
      resetAwsFakes();
      aws.state.item = undefined; // fresh counters: the next round is slot 1's first failure
      await invoke();
      // Only the state write loses the race; the lease is free (the other invocation released it).
      ddb
        .on(PutItemCommand, { Item: { pk: { S: 'checker-state' } } })
        .rejects(new ConditionalCheckFailedException({ message: 'conditional check failed', $metadata: {} }));
      const out = await invoke();
      expect(out).toContain('another checker invocation acted first');
      expect(mutatingElbCalls()).toHaveLength(0);
    } finally {
      await servers[1].start();
    }
  });

  it('reads the secret once across warm invocations and never logs it', async () => {
    resetAwsFakes();
    let all = '';
    for (let i = 0; i < 3; i++) all += await invoke();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0); // cached since the first test
    expect(all).not.toContain(PASS);
    expect(all).toContain('"message":"probe"');
  });

  it('a slot whose instance was replaced under a new ID and IP is probed and managed from the next round, with no redeploy', async () => {
    const next = { slot: 1, instanceId: 'i-0eeeeeeeeeeeeeee1', privateIp: '127.18.4.3' };
    const [replacement] = await startBackends([next], { allowFile: users.allowFile, passivePortStart: 42000 });
    try {
      await servers[1].stop(); // the old instance is gone: only the replacement can answer for slot 1
      aws.replace(1, next);
      resetAwsFakes();
      const first = probeLines(await invoke());
      expect(first.find((p) => p.slot === 1)).toMatchObject({ instanceId: next.instanceId, ok: true });
      expect(mutatingElbCalls()).toHaveLength(0);
      // Its counters start from zero and belong to the new instance.
      expect(aws.state.item?.counters?.S).toContain(next.instanceId);

      // Managed like the old one: two failed rounds deregister it, with its new ID...
      await replacement.stop();
      resetAwsFakes();
      await invoke();
      await invoke();
      expect(elb.commandCalls(DeregisterTargetsCommand).map((c) => c.args[0].input)).toEqual([
        { TargetGroupArn: TG_ARN, Targets: [{ Id: next.instanceId, Port: 21 }] },
      ]);
      // ...and two good rounds register it again.
      await replacement.start();
      resetAwsFakes();
      await invoke();
      await invoke();
      expect(elb.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input)).toEqual([
        { TargetGroupArn: TG_ARN, Targets: [{ Id: next.instanceId, Port: 21 }] },
      ]);
    } finally {
      await replacement.dispose();
      aws.replace(1, BACKENDS[1]);
      await servers[1].start();
    }
  });

  it('a slot with no instance yet (booting) is skipped: the round completes, nothing fails open, nothing changes', async () => {
    aws.replace(1); // slot 1's group is between instances
    try {
      resetAwsFakes();
      const out = (await invoke()) + (await invoke()) + (await invoke());
      expect(out).toMatch(/"message":"slot not probed"[^\n]*"slot":1/);
      expect(probeLines(out).map((p) => p.slot)).toEqual([0, 0, 0]);
      expect(out).not.toContain('fail-open');
      expect(out.match(/"CheckerHeartbeat":1/g)).toHaveLength(3);
      expect(mutatingElbCalls()).toHaveLength(0);
    } finally {
      aws.replace(1, BACKENDS[1]);
    }
  });

  it('never registers an instance tagged out of rotation (a roll draining it), and registers it once the tag is gone', async () => {
    const id = BACKENDS[1].instanceId;
    resetAwsFakes();
    await invoke(); // slot 1 healthy again, counters at rise
    registered.delete(id); // npm run roll deregistered it from port 21 to drain it
    aws.tag(id, OUT_OF_ROTATION_TAG, 'npm run roll: draining');
    resetAwsFakes();
    const out = (await invoke()) + (await invoke());
    expect(elb.commandCalls(RegisterTargetsCommand)).toHaveLength(0);
    expect(out).toContain('out of rotation (tagged): not registered');
    aws.tag(id, OUT_OF_ROTATION_TAG, ''); // still tagged (any value)
    await invoke();
    expect(elb.commandCalls(RegisterTargetsCommand)).toHaveLength(0);
    aws.untag(id, OUT_OF_ROTATION_TAG);
    await invoke();
    expect(elb.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input)).toEqual([
      { TargetGroupArn: TG_ARN, Targets: [{ Id: id, Port: 21 }] },
    ]);
  });
});
