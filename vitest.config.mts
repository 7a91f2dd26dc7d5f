import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // One module graph per worker: aws-cdk-lib is imported once, not once per file (it was
          // 90 of 250 s). Files that stub SDK clients restore them in afterAll.
          isolate: false,
          // A guard against hangs, not a speed target: CI runs this project niced beside the
          // integration project, where a synth that takes 5 s alone took 25 s (and once, on CI's
          // machine, over a minute: the only failure of a run of 805).
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        // What takes long but needs no network namespace of the sandbox's, no port and no server:
        // exhaustive walks over configurations (many synths), `cdk synth` through the CLI, cfn-lint.
        // CI runs them (bin/test.ts, beside the integration files, whose drills mostly wait); the
        // fast suite does not.
        test: {
          name: 'slow',
          include: ['test/slow/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
        },
      },
      {
        // Real vsftpd, curl, lftp and network namespaces: needs root and Debian's packages.
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Files share port 21 on loopback addresses, /etc/pam.d and local users: one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
