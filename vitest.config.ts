import { defineConfig } from 'vitest/config';

// Three projects, one command. `unit` is pure (no I/O); `emulator` talks to the in-process AWS
// emulator over HTTP with the real SDK clients; `integration` adds a real etcd + kube-apiserver,
// started once per run by the global setup and shared by every file.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'emulator',
          include: ['test/emulator/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
