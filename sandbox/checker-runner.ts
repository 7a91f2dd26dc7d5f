/**
 * Runs the real health-checker handler as the EventBridge schedule would, in its own process
 * (like a Lambda execution environment): one invocation per probe interval. Configured only
 * through the environment the sandbox passes, AWS_ENDPOINT_URL included.
 */
import { handler } from '../lambda/health-checker/handler';

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
