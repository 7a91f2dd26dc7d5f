/**
 * Runs the health checker as the EventBridge schedule would, in its own process (like a Lambda
 * execution environment): one invocation per probe interval. What runs is the bundled index.js
 * that `cdk deploy` would upload (NLBFTP_CHECKER_BUNDLE), not the TypeScript source, so the
 * sandbox also proves the bundle. Configured only through the environment the sandbox passes,
 * AWS_ENDPOINT_URL included.
 */
import { createRequire } from 'node:module';

type Handler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>;

const bundle = process.env.NLBFTP_CHECKER_BUNDLE;
if (!bundle) throw new Error('NLBFTP_CHECKER_BUNDLE (the bundled checker index.js) is not set');
const { handler } = createRequire(__filename)(bundle) as { handler: Handler };

const intervalMs = Number(process.env.NLBFTP_INTERVAL_SECONDS) * 1000;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

async function main(): Promise<void> {
  let next = Date.now();
  while (!stopping) {
    try {
      await handler({}, { getRemainingTimeInMillis: () => intervalMs + 30_000 });
    } catch (err) {
      console.error(
        JSON.stringify({ level: 'ERROR', message: 'invocation failed', error: (err as Error).name, detail: (err as Error).message }),
      );
    }
    next += intervalMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
}

main().then(() => process.exit(0));
