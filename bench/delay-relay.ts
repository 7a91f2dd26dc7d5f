/**
 * TCP relays that hold every chunk for a fixed delay in each direction, run by bench/checker.ts as
 * a process of its own (at the checker's priority, above the backends'), so that relaying costs the
 * checker's event loop nothing.
 * Argument: JSON `{ delayMs, relays: [{ listenHost, targetHost, ports }] }`. Prints `ready` once
 * every port listens; runs until killed.
 */
import * as net from 'node:net';

interface RelaySpec {
  readonly delayMs: number;
  readonly relays: ReadonlyArray<{ readonly listenHost: string; readonly targetHost: string; readonly ports: readonly number[] }>;
}

const spec = JSON.parse(process.argv[2] ?? '') as RelaySpec;

function relayPort(listenHost: string, targetHost: string, port: number): Promise<void> {
  const server = net.createServer((client) => {
    const upstream = net.connect(port, targetHost);
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (d) => setTimeout(() => to.writable && to.write(d), spec.delayMs));
      from.on('end', () => setTimeout(() => to.end(), spec.delayMs));
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => resolve());
  });
}

Promise.all(spec.relays.flatMap((r) => r.ports.map((p) => relayPort(r.listenHost, r.targetHost, p)))).then(
  () => process.stdout.write('ready\n'),
  (err: Error) => {
    process.stderr.write(`delay relay: ${err.message}\n`);
    process.exit(1);
  },
);
