/**
 * One FTP login probe against one backend, straight at its private IP (not through the NLB):
 * TCP connect, 220 banner, with FTPS AUTH TLS + PBSZ 0 + PROT P, USER/PASS, an EPSV listing
 * (proves the passive range), QUIT.
 * Every step has its own deadline; the result names the step reached and an error class.
 *
 * Uses basic-ftp for the protocol; this file only adds deadlines and classification.
 */
import { Client, enterPassiveModeIPv6, FTPError } from 'basic-ftp';

export type ProbeStep = 'connect' | 'banner' | 'tls' | 'auth' | 'data' | 'quit';
export type ProbeErrorClass = 'connect' | 'banner' | 'tls' | 'auth' | 'data' | 'timeout';

export interface ProbeTarget {
  readonly slot: number;
  readonly host: string;
  readonly port?: number;
  /** The slot's passive range: a data port offered outside it fails the data step (no NLB listener there). */
  readonly passivePorts?: { readonly min: number; readonly max: number };
}

export interface ProbeCredentials {
  readonly username: string;
  readonly password: string;
}

export interface ProbeOptions {
  /** Deadline for each step, in milliseconds. */
  readonly stepTimeoutMs: number;
  /** Deadline for the whole probe; a round must end before the next begins. */
  readonly totalTimeoutMs?: number;
  /**
   * Speak FTPS as clients do: AUTH TLS, PBSZ 0, PROT P, then login and a protected listing. The
   * certificate must chain to `ca` (the stored certificate itself, for a self-signed one; unset:
   * the public roots) and, when `fingerprint256` is set, be exactly that certificate. The host
   * name is not checked: the probe connects to private IPs, which the certificate does not name.
   */
  readonly tls?: ProbeTls;
}

export interface ProbeTls {
  readonly ca?: string;
  readonly fingerprint256?: string;
}

/** Pin the leaf: a backend still serving an old or foreign certificate fails the `tls` step. */
function pinnedIdentity(fingerprint256: string | undefined) {
  return (_host: string, cert: { fingerprint256: string }): Error | undefined =>
    fingerprint256 === undefined || cert.fingerprint256 === fingerprint256
      ? undefined
      : new Error(`certificate ${cert.fingerprint256.slice(0, 23)}... is not the stored certificate ${fingerprint256.slice(0, 23)}...`);
}

export interface ProbeResult {
  readonly slot: number;
  readonly ok: boolean;
  /** The last step attempted: on success `quit`, on failure the step that failed. */
  readonly step: ProbeStep;
  readonly errorClass?: ProbeErrorClass;
  /** Short reason, safe to log (FTP reply text or a socket error code; never the password). */
  readonly detail?: string;
  readonly latencyMs: number;
}

class DeadlineExceeded extends Error {
  constructor(readonly step: ProbeStep) {
    super(`${step} exceeded its deadline`);
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, step: ProbeStep, onExpire: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Settle the race first: closing the client also rejects the pending FTP task.
      reject(new DeadlineExceeded(step));
      onExpire();
    }, ms);
  });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}

/** Classify a failure at a step. A deadline is always `timeout`; otherwise the step names the class. */
function classify(step: ProbeStep, err: unknown): { errorClass: ProbeErrorClass; detail: string } {
  if (err instanceof DeadlineExceeded) return { errorClass: 'timeout', detail: err.message };
  const code = (err as { code?: unknown }).code;
  const text =
    err instanceof FTPError ? `${err.code} ${err.message}` : typeof code === 'string' ? code : String((err as Error).message ?? err);
  const detail = text.replace(/\s+/g, ' ').slice(0, 200);
  switch (step) {
    case 'connect':
      return { errorClass: 'connect', detail };
    case 'banner':
      return { errorClass: 'banner', detail };
    case 'tls':
      return { errorClass: 'tls', detail };
    case 'auth':
      return { errorClass: 'auth', detail };
    default:
      return { errorClass: 'data', detail };
  }
}

export async function probeBackend(target: ProbeTarget, creds: ProbeCredentials, opts: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const client = new Client(0);
  // EPSV only: the data connection goes to the address we are connected to, on a port of this
  // backend's passive range. PASV would use pasv_address (the NLB), which is not what we test here.
  const range = target.passivePorts;
  client.prepareTransfer = async (ftp) => {
    const res = await enterPassiveModeIPv6(ftp);
    const port = ftp.dataSocket?.remotePort;
    if (range && (port === undefined || port < range.min || port > range.max)) {
      // The server ran out of its range and offered another port (ProFTPD does); through the NLB a
      // client could never connect there, so the backend is failing its clients.
      throw new Error(`passive port ${port} is outside the slot's range ${range.min}-${range.max}`);
    }
    return res;
  };
  const abort = () => client.close();
  const total = opts.totalTimeoutMs ?? Number.POSITIVE_INFINITY;
  const stepBudget = () => Math.max(1, Math.min(opts.stepTimeoutMs, total - (performance.now() - started)));
  let step: ProbeStep = 'connect';
  try {
    const welcome = client.connect(target.host, target.port ?? 21);
    welcome.catch(() => undefined); // observed below; avoid an unhandled rejection if connect fails first
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        client.ftp.socket.once('connect', () => resolve());
        welcome.then(() => resolve(), reject);
      }),
      stepBudget(),
      'connect',
      abort,
    );
    step = 'banner';
    await withDeadline(welcome, stepBudget(), 'banner', abort);
    if (opts.tls) {
      step = 'tls';
      await withDeadline(
        client.useTLS({ ca: opts.tls.ca, checkServerIdentity: pinnedIdentity(opts.tls.fingerprint256) }),
        stepBudget(),
        'tls',
        abort,
      );
      // Protect the data connection too, as vsftpd's force_local_data_ssl demands; RFC 4217 order.
      await withDeadline(client.send('PBSZ 0'), stepBudget(), 'tls', abort);
      await withDeadline(client.send('PROT P'), stepBudget(), 'tls', abort);
    }
    step = 'auth';
    await withDeadline(client.login(creds.username, creds.password), stepBudget(), 'auth', abort);
    step = 'data';
    await withDeadline(client.list(), stepBudget(), 'data', abort);
    step = 'quit';
    // QUIT is a courtesy: the service already proved it works, so a slow goodbye is not a failure.
    await withDeadline(client.send('QUIT'), stepBudget(), 'quit', abort).catch(() => undefined);
    return { slot: target.slot, ok: true, step, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { slot: target.slot, ok: false, step, ...classify(step, err), latencyMs: Math.round(performance.now() - started) };
  } finally {
    client.close();
  }
}
