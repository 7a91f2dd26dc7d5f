/**
 * `ftpServer`: ProFTPD backends get Debian 13's AMI from Debian's public SSM parameter (as vsftpd's
 * do), a boot script that writes the rendered proftpd.conf with the slot's own range and its AZ's
 * static IP, and a file system that admits stunnel TLS mounts. Leaving it unset keeps every
 * stateful resource of v0.1; the file system only gains that policy statement.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootSettingsOf, launchTemplates, resourcesOfType, synth } from '../../harness/synth';
import { SFTP_BACKEND_PORT } from '../../lib/backend/proftpd-conf';
import { settingsFile } from '../../lib/backend/user-data';
import { type ConfigError, loadConfig, parseConfig } from '../../lib/config';

describe('ftpServer=proftpd', () => {
  const s = synth({ ftpServer: 'proftpd', backendCount: 3, passivePortsPerBackend: 4 });

  it("boots every backend, of either server, from Debian 13's public SSM parameter, never a fixed AMI ID", () => {
    for (const [input, arch] of [
      [{ ftpServer: 'proftpd' }, 'arm64'],
      [{}, 'arm64'],
      [{ ftpServer: 'proftpd', instanceType: 'c7i.large' }, 'amd64'],
    ] as const) {
      const t = input === undefined ? s : synth(input);
      const params = JSON.stringify(t.json.Parameters ?? {});
      expect(params).toContain(`"Default":"/aws/service/debian/release/13/latest/${arch}"`);
      expect(params).not.toMatch(/canonical|amazon-linux|al2023/);
      const templates = launchTemplates(t);
      expect(templates.length).toBeGreaterThan(0);
      for (const [, p] of templates) {
        expect(JSON.stringify(p.ImageId)).toMatch(/"Ref":"SsmParameterValue/);
        expect(JSON.stringify(p.BlockDeviceMappings)).toContain('/dev/xvda');
      }
    }
  });

  it("writes each slot's proftpd.conf: its own passive range, its AZ's static IP, the client-IP check, the jail", () => {
    const eips = resourcesOfType(s, 'AWS::EC2::EIP')
      .map(([id]) => id)
      .filter((id) => id.startsWith('LoadBalancerEip'));
    const slots = bootSettingsOf(s);
    expect(slots.map((x) => x.env.SLOT).sort()).toEqual([0, 1, 2]);
    for (const settings of slots) {
      const slot = Number(settings.env.SLOT);
      const conf = settingsFile(settings, 'server-conf');
      expect(conf.path).toBe('/etc/proftpd/proftpd.conf');
      const min = 40000 + slot * 4;
      expect(conf.text).toContain(`proftpd.conf for nlb-ftp backend slot ${slot}.`);
      expect(conf.text).toMatch(new RegExp(`^PassivePorts ${min} ${min + 3}$`, 'm'));
      expect(conf.text).toMatch(new RegExp(`^MasqueradeAddress \\$\\{${eips[slot % 2]}\\.PublicIp\\}$`, 'm'));
      expect(conf.text).toMatch(/^AllowForeignAddress off$/m);
      expect(conf.text).toMatch(/^DefaultRoot \/srv\/ftp\/users\/%u$/m);
      expect(conf.text).toMatch(/^ {2}TLSRequired on$/m);
      expect(conf.text).toContain(`ServerIdent on "nlb-ftp backend slot ${slot} ready"`);
      // The boot installs ProFTPD from Debian's archive, in the namespace whose range is the slot's.
      expect(settings.env).toMatchObject({ SERVER: 'proftpd', PASV_MIN: min, PASV_MAX: min + 3 });
      expect(String(settings.env.PACKAGES).split(' ')).toEqual(expect.arrayContaining(['proftpd-core', 'proftpd-mod-crypto']));
      // It builds the upload module with these, purges them after (docs/users.md), and loads it.
      expect(settings.env.BUILD_PACKAGES).toBe('gcc libc6-dev proftpd-dev');
      expect(String(settings.env.PACKAGES).split(' ')).toEqual(expect.arrayContaining(['gcc', 'libc6-dev', 'proftpd-dev']));
      expect(conf.text).toMatch(/^ {2}LoadModule mod_nlbftp_uploads\.c$/m);
      expect(conf.text).toMatch(/^HiddenStores on$/m);
      expect(settingsFile(settings, 'namespace-sysctl').text).toContain(`net.ipv4.ip_local_port_range = ${min} ${min + 3}`);
      expect(settingsFile(settings, 'namespace-env').text).toContain(`PORTS=21,${SFTP_BACKEND_PORT},${min}:${min + 3}`);
    }
  });

  it('lets the file system take TLS mounts without IAM through its mount targets only, for either server', () => {
    const policyOf = (input: object) => JSON.stringify(resourcesOfType(synth(input), 'AWS::EFS::FileSystem')[0][1].FileSystemPolicy);
    for (const input of [{ ftpServer: 'proftpd' }, {}]) {
      const policy = policyOf(input);
      expect(policy).toContain('TlsClientsWithoutIamThroughMountTargets');
      expect(policy).toContain('"aws:SecureTransport":"true"');
      expect(policy).toContain('"elasticfilesystem:AccessedViaMountTarget":"true"');
    }
  });

  it('refuses a single passive port per backend (ProFTPD needs a range) and an unknown server', () => {
    const refused = (input: object) => {
      try {
        parseConfig(input);
      } catch (e) {
        return (e as ConfigError).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ ftpServer: 'proftpd', passivePortsPerBackend: 1 })).toContain(
      'passivePortsPerBackend = 1: must be at least 2 with ftpServer=proftpd',
    );
    let err: ConfigError | undefined;
    try {
      loadConfig({ context: { ftpServer: 'pureftpd' }, cwd: os.tmpdir() });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err?.problems).toHaveLength(1);
    expect(err?.message).toContain('ftpServer = "pureftpd" (from -c context): must be one of "vsftpd", "proftpd"');
  });
});

describe('leaving ftpServer unset', () => {
  it('keeps every Elastic IP, NLB and file system of v0.1 (the file system gains one policy statement, updated in place); only its instances go', () => {
    const before = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../fixtures/stateful-resources-v0.1.json'), 'utf8')) as Record<
      string,
      { type: string; sha256: string }
    >;
    for (const input of [{}, { ftpServer: 'vsftpd' as const }]) {
      const now = synth(input).json.Resources;
      // v0.1's per-slot instances are the one deliberate replacement (docs/operations.md, "Upgrades and repairs").
      const instances = Object.entries(before).filter(([, r]) => r.type === 'AWS::EC2::Instance');
      expect(instances.length).toBeGreaterThan(0);
      for (const [id] of instances) expect(now[id], id).toBeUndefined();
      for (const [id, { type, sha256 }] of Object.entries(before)) {
        if (type === 'AWS::EC2::Instance') continue;
        expect(now[id]?.Type, id).toBe(type);
        const props = structuredClone(now[id].Properties ?? {}) as Record<string, { Statement?: Array<{ Sid?: string }> }>;
        if (type === 'AWS::EFS::FileSystem') {
          // Debian has no amazon-efs-utils: the TLS mount without IAM (an in-place policy update).
          const statements = props.FileSystemPolicy.Statement ?? [];
          expect(statements.filter((x) => x.Sid === 'TlsClientsWithoutIamThroughMountTargets')).toHaveLength(1);
          props.FileSystemPolicy.Statement = statements.filter((x) => x.Sid !== 'TlsClientsWithoutIamThroughMountTargets');
        }
        expect(createHash('sha256').update(JSON.stringify(props)).digest('hex'), id).toBe(sha256);
      }
    }
  });
});
