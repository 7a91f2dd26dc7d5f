/**
 * The audit trail in the template: the KMS-encrypted log group with its retention and removal
 * policy, the metric filters, the brute-force alarm, the saved query, the dashboard, who may write
 * to the group (the backends' role, and only to it), the converter's asset, and the CloudWatch
 * agent's configuration checked against the agent's documented schema.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bootSettingsOf, resourcesOfType, type Synthesized, synth } from '../../harness/synth';
import { flatten, refOf } from '../../harness/template';
import { bootScriptsDigest, renderCloudWatchAgentConfig, SCRIPTS_DIR, settingsFile } from '../../lib/backend/user-data';
import { AUDIT_FILTERS, AUDIT_LOG_FILE, AUDIT_METRIC_NAMESPACE, type AuditFilterName } from '../../lib/shared/audit';

type Props = Record<string, unknown>;
const one = (s: Synthesized, type: string): [string, Props] => {
  const all = resourcesOfType(s, type);
  expect(all, type).toHaveLength(1);
  return all[0];
};

const auditGroup = (s: Synthesized): [string, Props] => {
  const all = resourcesOfType(s, 'AWS::Logs::LogGroup').filter(([, p]) => String(p.LogGroupName).endsWith('/audit'));
  expect(all).toHaveLength(1);
  return all[0];
};

describe('the audit log group', () => {
  const s = synth({ backendCount: 2, passivePortsPerBackend: 4 });
  const [groupId, group] = auditGroup(s);

  it('is named after the stack, kept a year by default, encrypted with its own rotating key, and retained', () => {
    expect(group.LogGroupName).toBe('/nlb-ftp/NlbFtp/audit');
    expect(group.RetentionInDays).toBe(365);
    const keyId = refOf(group.KmsKeyId);
    expect(s.json.Resources[keyId].Type).toBe('AWS::KMS::Key');
    expect(s.json.Resources[keyId].Properties?.EnableKeyRotation).toBe(true);
    expect((s.json.Resources[groupId] as { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
    expect((s.json.Resources[keyId] as { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
  });

  it('the key lets CloudWatch Logs use it for this log group only (its encryption context)', () => {
    const keyId = refOf(group.KmsKeyId);
    const statements = (s.json.Resources[keyId].Properties?.KeyPolicy as { Statement: Props[] } | undefined)?.Statement ?? [];
    const logs = statements.filter((st) => flatten((st.Principal as Props)?.Service ?? '').startsWith('logs.'));
    expect(logs).toHaveLength(1);
    expect(flatten(logs[0].Condition)).toContain('kms:EncryptionContext:aws:logs:arn');
    expect(flatten(logs[0].Condition)).toContain(':log-group:/nlb-ftp/NlbFtp/audit');
  });

  it('follows auditLogRetentionDays and removalPolicy', () => {
    const d = synth({ backendCount: 1, passivePortsPerBackend: 4, auditLogRetentionDays: 90, removalPolicy: 'destroy' });
    const [id, g] = auditGroup(d);
    expect(g.RetentionInDays).toBe(90);
    expect((d.json.Resources[id] as { DeletionPolicy?: string }).DeletionPolicy).toBe('Delete');
  });

  it('has a metric filter per audit filter, on this group, with the stack as dimension', () => {
    const filters = resourcesOfType(s, 'AWS::Logs::MetricFilter').map(([, p]) => p);
    expect(filters).toHaveLength(Object.keys(AUDIT_FILTERS).length);
    for (const f of Object.values(AUDIT_FILTERS)) {
      const found = filters.find((p) => (p.MetricTransformations as Props[])[0].MetricName === f.metric);
      expect(found, f.metric).toBeDefined();
      expect(found?.FilterPattern).toBe(f.pattern);
      expect(refOf(found?.LogGroupName)).toBe(groupId);
      expect((found?.MetricTransformations as Props[] | undefined)?.[0]).toMatchObject({
        MetricNamespace: AUDIT_METRIC_NAMESPACE,
        MetricValue: f.value,
        Dimensions: [
          { Key: 'Stack', Value: '$.stack' },
          ...Object.entries('dimensions' in f ? f.dimensions : {}).map(([Key, Value]) => ({ Key, Value })),
        ],
      });
    }
  });

  /** An audit alarm of template `t`: on its filter's metric, summed over `period`, at `threshold` or more, to the alarm topic. */
  function expectAuditAlarm(t: Synthesized, name: string, filter: AuditFilterName, period: number, threshold: number) {
    const alarm = resourcesOfType(t, 'AWS::CloudWatch::Alarm').find(([, p]) => p.AlarmName === name)?.[1];
    expect(alarm).toMatchObject({
      MetricName: AUDIT_FILTERS[filter].metric,
      Namespace: AUDIT_METRIC_NAMESPACE,
      Statistic: 'Sum',
      Period: period,
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    const [topicId] = one(t, 'AWS::SNS::Topic');
    expect(((alarm?.AlarmActions as unknown[] | undefined) ?? []).map(refOf)).toEqual([topicId]);
    return alarm;
  }

  it('raises the brute-force alarm at failedLoginAlarmThreshold failed logins in 5 minutes, to the alarm topic', () => {
    const t = synth({ backendCount: 1, passivePortsPerBackend: 4, failedLoginAlarmThreshold: 12 });
    expectAuditAlarm(t, 'NlbFtp-ftp-failed-logins', 'failedLogins', 300, 12);
  });

  it('raises "FTP users skipped" when any backend skipped an entry of the users secret in 10 minutes (two syncs), to the alarm topic', () => {
    const alarm = expectAuditAlarm(s, 'NlbFtp-ftp-users-skipped', 'skippedUsers', 600, 1);
    expect(String(alarm?.AlarmDescription)).toContain('npm run status');
    const filter = resourcesOfType(s, 'AWS::Logs::MetricFilter').find(([, p]) => p.FilterPattern === AUDIT_FILTERS.skippedUsers.pattern);
    expect(filter?.[1]).toMatchObject({
      MetricTransformations: [expect.objectContaining({ MetricName: 'SkippedUsers', MetricValue: '1' })],
    });
  });

  it('saves the "who touched this path" query on this group, and the dashboard graphs transfers, bytes and failed logins', () => {
    const [, q] = one(s, 'AWS::Logs::QueryDefinition');
    expect(q.Name).toBe('NlbFtp/who-touched-this-path');
    expect((q.LogGroupNames as unknown[]).map(refOf)).toEqual([groupId]);
    expect(String(q.QueryString)).toContain('filter path like');
    const [, dash] = one(s, 'AWS::CloudWatch::Dashboard');
    const body = flatten(dash.DashboardBody);
    for (const m of Object.values(AUDIT_FILTERS)) expect(body).toContain(`"${m.metric}"`);
  });
});

describe('who may write to the audit log group', () => {
  const s = synth({ backendCount: 2, passivePortsPerBackend: 4 });
  const [groupId] = auditGroup(s);
  const policies = resourcesOfType(s, 'AWS::IAM::Policy');
  const statementsOf = (p: Props) => (p.PolicyDocument as { Statement: Props[] }).Statement;
  const actionsOf = (st: Props) => [st.Action].flat() as string[];

  it("only the backends' role may put events, and only into this group", () => {
    // Statements that could put events into the audit group: naming it, or any resource at all.
    const reaches = (st: Props) =>
      actionsOf(st).some((a) => a === 'logs:PutLogEvents' || a === 'logs:*') &&
      [st.Resource].flat().some((r) => r === '*' || flatten(r).includes(groupId) || flatten(r).includes('/nlb-ftp/NlbFtp/audit'));
    const writers = policies.filter(([, p]) => statementsOf(p).some(reaches));
    expect(writers).toHaveLength(1);
    const [, policy] = writers[0];
    expect((policy.Roles as unknown[]).map(refOf).every((r) => r.startsWith('BackendsRole'))).toBe(true);
    const st = statementsOf(policy).find((x) => actionsOf(x).includes('logs:PutLogEvents')) as Props;
    expect(actionsOf(st).sort()).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    expect([st.Resource].flat().map(refOf)).toEqual([groupId]);
  });

  it('the backends read exactly the boot scripts object from the assets bucket, and the boot checks its digest', () => {
    const [, backendsPolicy] = policies.find(([, p]) => statementsOf(p).some((st) => st.Sid === 'ReadTheBootScriptsAsset')) as [
      string,
      Props,
    ];
    const st = statementsOf(backendsPolicy).find((x) => x.Sid === 'ReadTheBootScriptsAsset') as Props;
    expect(st.Action).toBe('s3:GetObject');
    const resource = flatten(st.Resource);
    expect(resource).toMatch(/\/[0-9a-f]{64}\.zip$/);
    expect(resource).not.toContain('*');
    const slots = bootSettingsOf(s);
    expect(slots.length).toBeGreaterThan(0);
    for (const settings of slots) {
      expect(resource.endsWith(`/${settings.env.BUNDLE_KEY}`)).toBe(true);
      expect(settings.env.BUNDLE_DIGEST).toBe(bootScriptsDigest());
      expect(settings.env.LOG_GROUP).toBe('/nlb-ftp/NlbFtp/audit');
      expect(settingsFile(settings, 'cloudwatch-agent').text).toContain('"log_group_name":"/nlb-ftp/NlbFtp/audit"');
    }
    expect(fs.readFileSync(path.join(SCRIPTS_DIR, 'boot.sh'), 'utf8')).toContain('amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s');
  });

  it("both boots install the agent from AWS's regional bucket (Debian's build, this machine's architecture), and the SSM agent beside it", () => {
    for (const ftpServer of ['vsftpd', 'proftpd'] as const) {
      const [settings] = bootSettingsOf(synth({ ftpServer, backendCount: 1, passivePortsPerBackend: 4 }));
      expect(String(settings.env.AGENT_DEBS).split(' ')).toEqual([
        `amazon-ssm-\${Ref:AWS::Region}/latest/debian_$arch/amazon-ssm-agent.deb`,
        `amazoncloudwatch-agent-\${Ref:AWS::Region}/debian/$arch/latest/amazon-cloudwatch-agent.deb`,
      ]);
    }
    const boot = fs.readFileSync(path.join(SCRIPTS_DIR, 'boot.sh'), 'utf8');
    expect(boot).toContain('arch=$(dpkg --print-architecture)');
    // An anonymous GET by curl (the buckets are public): path-style through the sandbox's endpoint, virtual-hosted on AWS.
    const download = 'curl -sS --fail --retry 3 --max-time 300 -o "$deb" "$';
    expect(boot).toContain(`${download}{url:-https://$\{bucket}.s3.$\{REGION}.$\{URL_SUFFIX}/$\{object#*/}}"`);
    expect(boot).toContain('systemctl enable --now amazon-ssm-agent.service');
  });
});

describe("the CloudWatch agent's configuration", () => {
  // The documented schema of the parts used (CloudWatch agent configuration file, "logs" section:
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
  // The agent itself cannot run here (it needs EC2's metadata and a real endpoint), so its schema is checked instead.
  const AgentConfig = z.strictObject({
    agent: z.strictObject({ run_as_user: z.string().optional(), logfile: z.string().startsWith('/').optional() }),
    logs: z.strictObject({
      force_flush_interval: z.int().min(1).optional(),
      logs_collected: z.strictObject({
        files: z.strictObject({
          collect_list: z
            .array(
              z.strictObject({
                file_path: z.string().startsWith('/'),
                log_group_name: z.string().regex(/^[\w/.#-]{1,512}$/),
                log_stream_name: z.string().regex(/^([\w/.#-]|\{instance_id\}|\{hostname\}|\{ip_address\})+$/),
                timezone: z.enum(['Local', 'UTC']).optional(),
              }),
            )
            .min(1),
        }),
      }),
    }),
  });

  it('matches the documented schema, ships the events file to the group, one stream per instance, flushed every 5 s', () => {
    const parsed = AgentConfig.parse(JSON.parse(renderCloudWatchAgentConfig('/nlb-ftp/S/audit')));
    expect(parsed.logs.logs_collected.files.collect_list).toEqual([
      { file_path: AUDIT_LOG_FILE, log_group_name: '/nlb-ftp/S/audit', log_stream_name: '{instance_id}', timezone: 'UTC' },
    ]);
    expect(parsed.logs.force_flush_interval).toBe(5);
  });

  it('the schema refuses what the agent would refuse (so the check can fail)', () => {
    expect(() =>
      AgentConfig.parse({
        agent: {},
        logs: { logs_collected: { files: { collect_list: [{ file_path: 'relative', log_group_name: 'g', log_stream_name: 's' }] } } },
      }),
    ).toThrow();
    expect(() => AgentConfig.parse({ agent: {}, logs: { logs_collected: { files: { collect_list: [] } } } })).toThrow();
  });
});
