/**
 * `npm run sandbox:root`: build (or find) the cached Debian 13 root that booted sandbox backends
 * run from. CI runs it before the tests; the sandbox says to run it when the root is missing.
 */
import { ensureRoot, ROOT_CACHE, rootKey } from '../sandbox/boot/root';

async function main(): Promise<void> {
  const t0 = Date.now();
  console.log(`Debian 13 root ${rootKey()} in ${ROOT_CACHE}`);
  const root = await ensureRoot((line) => console.log(line));
  const took = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `${root.dir}: ${Object.keys(root.packages).length} packages in the archive (built in ${root.buildSeconds} s; this run ${took} s)`,
  );
  for (const p of ['vsftpd', 'proftpd-core', 'curl', 'stunnel4']) console.log(`  ${p} ${root.packages[p] ?? 'MISSING'}`);
}

main().catch((err: Error) => {
  console.error(`sandbox:root failed: ${err.message}`);
  process.exit(1);
});
