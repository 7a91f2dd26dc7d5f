#!/usr/bin/env node
/**
 * `npm run sandbox`: the whole nlb-ftp cluster on this Linux machine (root needed).
 *   npm run sandbox                      bring it up and keep it running until Ctrl-C / SIGTERM
 *   npm run sandbox -- -c backendCount=3 any setting, as with cdk synth
 *   npm run sandbox -- --idle-timeout 30 the emulated NLB's idle timeout in seconds
 *   npm run sandbox -- --down            remove leftovers of a crashed run
 */
import { type CommandSpec, EXIT, helpText, parseOrExit, wholeNumber } from '../lib/cli/command';
import { ConfigError } from '../lib/config';
import { curlFtpsArgs, lftpFtpsSettings } from '../lib/shared/names';
import { iamReport } from '../sandbox/aws/iam';
import { CLIENT_IP, cleanupSandbox, Sandbox } from '../sandbox/cluster';

const SANDBOX_COMMAND: CommandSpec = {
  usage: 'npm run sandbox --',
  summary:
    "The whole nlb-ftp cluster on this Linux machine (root): emulated NLB, backends booted from the template's user data on Debian 13, the real checker. Ctrl-C removes it.",
  options: {
    context: { type: 'string', short: 'c', multiple: true, value: 'KEY=VALUE', help: 'a setting, as with cdk synth' },
    'idle-timeout': { type: 'string', value: 'SECONDS', help: "the emulated NLB's idle timeout", default: 'twice the keepalive probe gap' },
    down: { type: 'boolean', help: 'remove the leftovers of a crashed run, and exit' },
    'iam-report': {
      type: 'boolean',
      help: "at Ctrl-C, print each principal's AWS calls (all evaluated against the template's IAM policies) and its statements nothing used",
    },
  },
  examples: [
    'sudo npm run sandbox',
    'sudo npm run sandbox -- -c ftpServer=vsftpd -c backendCount=3',
    'sudo npm run sandbox -- --iam-report',
    'sudo npm run sandbox -- --down',
  ],
};

function parseSandboxArgs(argv: readonly string[]): { down: boolean; iamReport: boolean; context: Record<string, string>; idle?: number } {
  const v = parseOrExit(SANDBOX_COMMAND, argv);
  const context: Record<string, string> = {};
  for (const kv of (v.context as string[] | undefined) ?? []) {
    const [k, value] = kv.split(/=(.*)/s, 2);
    if (!kv.includes('=') || !k) {
      process.stderr.write(`-c needs KEY=VALUE, got ${kv}\n${helpText(SANDBOX_COMMAND)}`);
      process.exit(EXIT.usage);
    }
    context[k] = value;
  }
  let idle: number | undefined;
  try {
    idle = v['idle-timeout'] === undefined ? undefined : wholeNumber('idle-timeout', v['idle-timeout'] as string, 1, 0);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${helpText(SANDBOX_COMMAND)}`);
    process.exit(EXIT.usage);
  }
  return { down: v.down === true, iamReport: v['iam-report'] === true, context, idle };
}

/** For a booted backend: its boot time and the root its server runs from. */
function bootNote(sandbox: Sandbox, slot: number): string {
  const boot = sandbox.lastBoot.get(slot);
  const pid = sandbox.backend(slot).server.pid;
  return boot
    ? `, booted in ${(boot.result.ms / 1000).toFixed(1)} s, ${sandbox.backend(slot).server.kind} pid ${pid} runs from ${boot.instance.merged}`
    : '';
}

async function main(): Promise<number> {
  const args = parseSandboxArgs(process.argv.slice(2));
  if (args.down) {
    const removed = cleanupSandbox();
    console.log(removed.length ? `Removed: ${removed.join(', ')}` : 'Nothing to remove: no sandbox leftovers found.');
    return 0;
  }
  const started = Date.now();
  const sandbox = await Sandbox.up({
    context: args.context,
    idleTimeoutSeconds: args.idle,
    log: (m) => console.log(m),
  });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    const evaluated = sandbox.aws.iam.decisions;
    console.log(
      `\nIAM: ${evaluated.length} AWS call(s) evaluated against the template's policies, ${evaluated.filter((d) => !d.allowed).length} denied` +
        (args.iamReport ? `\n${iamReport(sandbox.aws.iam)}` : ' (--iam-report for each principal)'),
    );
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
  FTPS         ${ca ? `${sandbox.ftps}; certificate (self-signed for ${sandbox.endpoint}): ${ca}` : 'off (plain FTP: -c ftps=off -c allowPlaintextFromInternet=true)'}
  Backends     ${b.map((x) => `slot ${x.slot} ${x.ip} passive ${x.minPort}-${x.maxPort}${bootNote(sandbox, x.slot)}`).join('\n               ')}
  SFTP         ${sandbox.sftpPort ? `port ${sandbox.sftpPort}; host keys ${sandbox.sftpFingerprints.join(', ')}` : 'off'}
  Idle timeout ${sandbox.idleTimeoutSeconds} s (emulated NLB)

Try:
  curl -v ${curlTls}-u '${user}:${password}' ftp://${sandbox.endpoint}/
  curl -v ${curlTls}--disable-epsv -u '${user}:${password}' -T README.md ftp://${sandbox.endpoint}/README.md
  lftp -u '${user},${password}' -e '${lftpTls}set ftp:passive-mode true; ls; bye' ${sandbox.endpoint}${
    sandbox.sftpKnownHostsFile
      ? `
  sftp -P ${sandbox.sftpPort} -o UserKnownHostsFile=${sandbox.sftpKnownHostsFile} -o StrictHostKeyChecking=yes ${user}@${sandbox.endpoint}`
      : ''
  }

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
