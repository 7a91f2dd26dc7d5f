/**
 * Runs the health checker as the EventBridge schedule would, in its own process (like a Lambda
 * execution environment): one invocation per probe interval. What runs is the bundled index.js
 * that `cdk deploy` would upload (NLBFTP_CHECKER_BUNDLE), not the TypeScript source, so the
 * sandbox also proves the bundle. Configured only through the environment the sandbox passes,
 * AWS_ENDPOINT_URL included.
 *
 * NLBFTP_SOURCE_IP places the process's connections to sandbox addresses at the Lambda's own
 * address in the VPC, as its network interface does on AWS: the handler's code is unchanged, the
 * stand-in binds each socket it opens (FTP, FTPS, SFTP and the AWS endpoint alike).
 */
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { isSandboxAddress } from './netns';

const source = process.env.NLBFTP_SOURCE_IP;
if (source) {
  const connect = net.Socket.prototype.connect;
  // A copy with the source address, never the caller's object: http.Agent names its socket pool
  // from the options it passed, and a changed name leaks the pool's sockets until requests queue
  // forever (found: the checker's AWS calls stopped after a few minutes).
  const bound = (o: unknown): unknown => {
    const opts = o as net.TcpSocketConnectOpts | undefined;
    return opts && typeof opts === 'object' && typeof opts.host === 'string' && isSandboxAddress(opts.host) && !opts.localAddress
      ? { ...opts, localAddress: source }
      : o;
  };
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net.connect passes its arguments normalized (an array: options, callback); a direct call passes options.
    if (Array.isArray(args[0])) args[0][0] = bound(args[0][0]);
    else args[0] = bound(args[0]);
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
}

type Handler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>;

const bundle = process.env.NLBFTP_CHECKER_BUNDLE;
if (!bundle) throw new Error('NLBFTP_CHECKER_BUNDLE (the bundled checker index.js) is not set');
const { handler } = createRequire(__filename)(bundle) as { handler: Handler };

const intervalMs = Number(process.env.NLBFTP_INTERVAL_SECONDS) * 1000;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

let invoking = false;
// Node exits on its own once nothing is left to wait for; with an invocation pending that means a
// promise in the handler no event can settle. Say so instead of ending in silence.
process.on('beforeExit', () => {
  if (invoking)
    console.error(
      JSON.stringify({
        level: 'ERROR',
        message: 'the invocation is pending with nothing left to wait for',
        resources: process.getActiveResourcesInfo(),
      }),
    );
});

async function main(): Promise<void> {
  let next = Date.now();
  while (!stopping) {
    invoking = true;
    try {
      await handler({}, { getRemainingTimeInMillis: () => intervalMs + 30_000 });
    } catch (err) {
      console.error(
        JSON.stringify({ level: 'ERROR', message: 'invocation failed', error: (err as Error).name, detail: (err as Error).message }),
      );
    } finally {
      invoking = false;
    }
    next += intervalMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
}

main().then(() => process.exit(0));
