#!/usr/bin/env node
import { ConfigError } from '../lib/config';
/**
 * `npm run sandbox`: the whole nlb-ftp cluster on this Linux machine (root needed).
 *   npm run sandbox                      bring it up and keep it running until Ctrl-C / SIGTERM
 *   npm run sandbox -- -c backendCount=3 any setting, as with cdk synth
 *   npm run sandbox -- --idle-timeout 30 the emulated NLB's idle timeout in seconds
 *   npm run sandbox -- --down            remove leftovers of a crashed run
 */
import { curlFtpsArgs, lftpFtpsSettings } from '../lib/shared/names';
import { CLIENT_IP, cleanupSandbox, Sandbox } from '../sandbox/cluster';

const USAGE = 'usage: npm run sandbox -- [--down] [-c key=value ...] [--idle-timeout SECONDS]';

function parseArgs(argv: readonly string[]): { down: boolean; context: Record<string, string>; idle?: number } {
  const context: Record<string, string> = {};
  let down = false;
  let idle: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--down') down = true;
    else if ((a === '-c' || a === '--context') && argv[i + 1]?.includes('=')) {
      const [k, ...v] = (argv[++i] as string).split('=');
      context[k] = v.join('=');
    } else if (a === '--idle-timeout' && /^\d+$/.test(argv[i + 1] ?? '')) idle = Number(argv[++i]);
    else throw new Error(`Unknown argument ${a}. ${USAGE}`);
  }
  return { down, context, idle };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.down) {
    const removed = cleanupSandbox();
    console.log(removed.length ? `Removed: ${removed.join(', ')}` : 'Nothing to remove: no sandbox leftovers found.');
    return 0;
  }
  const started = Date.now();
  const sandbox = await Sandbox.up({ context: args.context, idleTimeoutSeconds: args.idle, log: (m) => console.log(m) });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${why}: tearing the sandbox down...`);
    await sandbox.down();
    console.log('Sandbox removed.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl-C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('uncaughtException', (err) => {
    console.error(`Error: ${err.message}`);
    void stop('Error');
  });

  const { user, password } = sandbox.demo;
  const b = sandbox.backends;
  const ca = sandbox.certificateFile;
  const curlTls = ca ? `${curlFtpsArgs(ca).join(' ')} ` : '';
  const lftpTls = ca ? `${lftpFtpsSettings(ca).join('; ')}; ` : '';
  console.log(`
nlb-ftp sandbox is up in ${((Date.now() - started) / 1000).toFixed(1)} s.

  Endpoint     ftp://${sandbox.endpoint}/   (the emulated NLB; clients on this host are ${CLIENT_IP})
  User         ${user}
  Password     ${password}
  FTPS         ${ca ? `${sandbox.ftps}; certificate (self-signed for ${sandbox.endpoint}): ${ca}` : 'off (plain FTP: -c ftps=off)'}
  Backends     ${b.map((x) => `slot ${x.slot} ${x.ip} passive ${x.minPort}-${x.maxPort}`).join('\n               ')}
  Idle timeout ${sandbox.idleTimeoutSeconds} s (emulated NLB)

Try:
  curl -v ${curlTls}-u '${user}:${password}' ftp://${sandbox.endpoint}/
  curl -v ${curlTls}--disable-epsv -u '${user}:${password}' -T README.md ftp://${sandbox.endpoint}/README.md
  lftp -u '${user},${password}' -e '${lftpTls}set ftp:passive-mode true; ls; bye' ${sandbox.endpoint}

The banner names the backend that answered. Press Ctrl-C to stop and remove everything.`);
  await new Promise(() => undefined);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : `Sandbox failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
