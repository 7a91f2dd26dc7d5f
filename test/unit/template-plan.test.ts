import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { planPorts } from '../../lib/shared/port-plan';
import { planFromTemplate, type TemplateJson } from '../../sandbox/template-plan';

describe('sandbox plan from the synthesized template', () => {
  const s = synth({ ftpServer: 'vsftpd', backendCount: 3, passivePortsPerBackend: 4 });
  const plan = planFromTemplate(s.json as unknown as TemplateJson);

  it('reads port 21 -> every backend, and each passive port -> its single backend', () => {
    expect(plan.control.targets.map((t) => t.port)).toEqual([21, 21, 21]);
    expect(new Set(plan.control.targets.map((t) => t.backend))).toEqual(new Set(plan.backends.map((b) => b.logicalId)));
    const expected = planPorts({ backendCount: 3, passivePortsPerBackend: 4, passivePortStart: 40000 });
    expect(plan.passive.map((p) => p.listenerPort)).toEqual(expected.slots.flatMap((x) => x.ports));
    for (const p of plan.passive) {
      const slot = Math.floor((p.listenerPort - 40000) / 4);
      expect(p.targets).toEqual([{ backend: plan.backends[slot].logicalId, port: p.listenerPort }]);
    }
  });

  it('reads health check, keepalive sysctls and each slot vsftpd.conf from the user data', () => {
    expect(plan.healthCheck).toEqual({ intervalSeconds: 10, healthyThreshold: 3, unhealthyThreshold: 2 });
    expect(plan.backends.map((b) => b.slot)).toEqual([0, 1, 2]);
    expect(plan.backends[0].keepaliveSysctls).toEqual([
      'net.ipv4.tcp_keepalive_time=60',
      'net.ipv4.tcp_keepalive_intvl=10',
      'net.ipv4.tcp_keepalive_probes=6',
    ]);
    expect(plan.backends[2].serverConf).toMatch(/^pasv_min_port=40008$/m);
    expect(plan.backends[2].serverConf).toMatch(/^pasv_address=\$\{LoadBalancerEip0\w+\.PublicIp\}$/m);
  });
});

describe('sandbox plan from a ProFTPD template', () => {
  const s = synth({ ftpServer: 'proftpd', backendCount: 2, passivePortsPerBackend: 4 });
  const plan = planFromTemplate(s.json as unknown as TemplateJson);

  it('reads proftpd.conf, its range and FTPS mode from each slot', () => {
    expect(plan.backends.map((b) => [b.server, b.slot, b.minPort, b.maxPort, b.ftps])).toEqual([
      ['proftpd', 0, 40000, 40003, 'required'],
      ['proftpd', 1, 40004, 40007, 'required'],
    ]);
    expect(plan.backends[1].serverConf).toMatch(/^PassivePorts 40004 40007$/m);
  });
});
