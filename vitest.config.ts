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
    // A `files` call would leave a files session running for minutes: test files that want one ask for it.
    env: { SENDENSE_FILES_SESSION: 'off' },
  },
});
