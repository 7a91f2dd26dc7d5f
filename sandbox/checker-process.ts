/**
 * The health checker's process in the sandbox: sandbox/checker-runner.ts (the bundled Lambda code,
 * invoked once per interval) started with the environment the sandbox gives it, its JSON lines
 * handed to the caller one by one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

export function startCheckerProcess(env: NodeJS.ProcessEnv, onLine: (line: string) => void): ChildProcess {
  const runner = path.join(__dirname, 'checker-runner.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', runner], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onLine(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return child;
}

/** One checker log line, short: its message and the fields that name what failed. */
export function summarizeCheckerLine(line: string): string {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const extra = ['slot', 'instanceId', 'errorClass', 'detail'].filter((k) => o[k] !== undefined).map((k) => `${k}=${o[k]}`);
    return `${o.message}${extra.length ? ` (${extra.join(', ')})` : ''}`;
  } catch {
    return line;
  }
}
