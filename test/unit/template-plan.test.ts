import { describe, expect, it } from 'vitest';
import { synth } from '../../harness/synth';
import { renderProftpdConf } from '../../lib/backend/proftpd-conf';
import { renderVsftpdConf } from '../../lib/backend/vsftpd-conf';
import { planPorts } from '../../lib/shared/port-plan';
import { localizeProftpdConf, localizeVsftpdConf, planFromTemplate, type TemplateJson } from '../../sandbox/template-plan';

describe('sandbox plan from the synthesized template', () => {
  const s = synth({ backendCount: 3, passivePortsPerBackend: 4 });
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

  it('localizes only addresses and paths; the rest is the deployed file', () => {
    const deployed = plan.backends[1].serverConf;
    const local = localizeVsftpdConf(deployed, {
      listenAddress: '198.18.17.2',
      pasvAddress: '198.18.0.2',
      secureChrootDir: '/tmp/x/empty',
      pamServiceName: 'nlbftp-sbx-1',
      logFile: '/tmp/x/log',
      certFile: '/tmp/x/tls.crt',
      keyFile: '/tmp/x/tls.key',
    });
    const expected = renderVsftpdConf({
      slot: 1,
      pasvAddress: '198.18.0.2',
      pasvMinPort: 40004,
      pasvMaxPort: 40007,
      maxClients: 200,
      maxPerIp: 20,
      listenAddress: '198.18.17.2',
      paths: {
        secureChrootDir: '/tmp/x/empty',
        pamServiceName: 'nlbftp-sbx-1',
        logFile: '/tmp/x/log',
        certFile: '/tmp/x/tls.crt',
        keyFile: '/tmp/x/tls.key',
      },
      ftps: { mode: 'required', requireSslReuse: true },
    });
    expect(local.trimEnd()).toBe(expected.trimEnd());
    expect(plan.backends[1].ftps).toBe('required');
    // A deployed FTPS config cannot run without a certificate to substitute.
    expect(() =>
      localizeVsftpdConf(deployed, {
        listenAddress: '198.18.17.2',
        pasvAddress: '198.18.0.2',
        secureChrootDir: '/e',
        pamServiceName: 'p',
        logFile: '/l',
      }),
    ).toThrow(/enables FTPS: give certFile and keyFile/);
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
  });

  it('localizes only addresses and paths: the result equals the renderer given the local ones', () => {
    const paths = {
      pamServiceName: 'nlbftp-sbx-1',
      usersRoot: '/tmp/x/users',
      transferLog: '/tmp/x/xferlog',
      systemLog: '/tmp/x/proftpd.log',
      auditLog: '/tmp/x/audit.fifo',
      pidFile: '/tmp/x/pid',
      scoreboardFile: '/tmp/x/scoreboard',
      modulePath: '/opt/p/usr/lib/proftpd',
      user: 'nobody',
      group: 'nogroup',
      certFile: '/tmp/x/tls.crt',
      keyFile: '/tmp/x/tls.key',
    };
    const local = localizeProftpdConf(plan.backends[1].serverConf, { listenAddress: '198.18.17.2', pasvAddress: '198.18.0.2', paths });
    const expected = renderProftpdConf({
      slot: 1,
      pasvAddress: '198.18.0.2',
      pasvMinPort: 40004,
      pasvMaxPort: 40007,
      maxClients: 200,
      maxPerIp: 20,
      listenAddress: '198.18.17.2',
      paths,
      ftps: { mode: 'required', requireSslReuse: true, maxTlsVersion: '1.2' },
    });
    expect(local).toBe(expected);
    expect(() =>
      localizeProftpdConf(plan.backends[1].serverConf, { listenAddress: 'a', pasvAddress: 'b', paths: { ...paths, certFile: undefined } }),
    ).toThrow(/enables FTPS/);
  });
});
