/**
 * One SFTP login probe against one backend's SFTP port, straight at its private IP (not through
 * the NLB): SSH key exchange, the host key checked against the stack's fingerprints, password
 * authentication with the health-check account, an SFTP listing of its start directory.
 * Every step has its own deadline; the result names the step reached and an error class.
 *
 * Uses ssh2 for the protocol (pure JavaScript; its optional native helpers are left out of the
 * bundle); this file only adds deadlines, host-key pinning and classification.
 */
import { createHash } from 'node:crypto';
import { Client } from 'ssh2';

export type SftpProbeStep = 'connect' | 'hostkey' | 'auth' | 'data';
export type SftpProbeErrorClass = SftpProbeStep | 'timeout';

export interface SftpProbeTarget {
  readonly slot: number;
  readonly host: string;
  readonly port: number;
}

export interface SftpProbeOptions {
  /** Deadline for each step, in milliseconds. */
  readonly stepTimeoutMs: number;
  /** Deadline for the whole probe; a round must end before the next begins. */
  readonly totalTimeoutMs?: number;
  /**
   * The host keys every backend must present, as OpenSSH prints them (`SHA256:...`): a backend
   * presenting another key (its secret's keys not installed) fails the `hostkey` step, as clients
   * that pinned the stack's keys would refuse it. Unset: any key (keys the user brought, which the
   * checker may not read).
   */
  readonly hostKeys?: readonly string[];
}

export interface SftpProbeResult {
  readonly slot: number;
  readonly ok: boolean;
  /** The last step attempted: on success `data`, on failure the step that failed. */
  readonly step: SftpProbeStep;
  readonly errorClass?: SftpProbeErrorClass;
  /** Short reason, safe to log (never the password). */
  readonly detail?: string;
  readonly latencyMs: number;
}

/** A raw SSH public key blob's fingerprint as OpenSSH prints it. */
export function sshKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function probeSftp(
  target: SftpProbeTarget,
  creds: { readonly username: string; readonly password: string },
  opts: SftpProbeOptions,
): Promise<SftpProbeResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const total = opts.totalTimeoutMs ?? Number.POSITIVE_INFINITY;
    const client = new Client();
    let step: SftpProbeStep = 'connect';
    let refusedKey: string | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (ok: boolean, errorClass?: SftpProbeErrorClass, detail?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      const latencyMs = Math.round(performance.now() - started);
      resolve(ok ? { slot: target.slot, ok, step, latencyMs } : { slot: target.slot, ok, step, errorClass, detail, latencyMs });
    };
    // Each step gets its own deadline, never past the whole probe's.
    const arm = () => {
      clearTimeout(timer);
      const ms = Math.max(1, Math.min(opts.stepTimeoutMs, total - (performance.now() - started)));
      timer = setTimeout(() => finish(false, 'timeout', `${step} exceeded its deadline`), ms);
    };
    arm();
    client.on('ready', () => {
      step = 'data';
      arm();
      client.sftp((err, sftp) => {
        if (err) return finish(false, 'data', short(err));
        sftp.readdir('.', (e) => (e ? finish(false, 'data', short(e)) : finish(true)));
      });
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (refusedKey) return finish(false, 'hostkey', `host key ${refusedKey} is not one of the stack's`);
      if (err.level === 'client-authentication') return finish(false, 'auth', short(err));
      finish(false, step === 'connect' || step === 'hostkey' ? step : 'auth', short(err));
    });
    client.on('close', () => finish(false, step, 'connection closed'));
    client.connect({
      host: target.host,
      port: target.port,
      username: creds.username,
      password: creds.password,
      tryKeyboard: false,
      // Deadlines are ours (above); ssh2's own would only race them.
      readyTimeout: 2 ** 31 - 1,
      hostVerifier: (key: Buffer) => {
        step = 'hostkey';
        const fp = sshKeyFingerprint(key);
        if (opts.hostKeys && !opts.hostKeys.includes(fp)) {
          refusedKey = fp;
          return false;
        }
        step = 'auth';
        arm();
        return true;
      },
    });
  });
}

function short(err: unknown): string {
  const e = err as { code?: unknown; message?: string };
  return String(typeof e.code === 'string' ? `${e.code} ${e.message ?? ''}` : (e.message ?? err))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}
