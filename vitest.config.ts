import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'runners/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Tests start real qemu-nbd / sshd processes; 2 cores do not gain from many workers.
    maxWorkers: 2,
    fileParallelism: true,
    // Removes what the workers left that only the whole run knows is done (port-slot locks).
    globalSetup: ['test/support/global-teardown.ts'],
    // A terminal-less `files` call uses no files session unless asked (docs/file-level-restore.md#files-sessions);
    // test files that run one in a terminal, or want one, say so themselves.
    env: { SENDENSE_FILES_SESSION: 'auto' },
  },
});
