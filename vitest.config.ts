import { defineConfig } from 'vitest/config';

// Four projects, one command. `unit` is pure (no I/O); `emulator` tests the in-process AWS emulator
// itself over HTTP with the real SDK clients; `adapters` runs the operator's AWS adapters, key cache
// and pre-flight against that emulator; `integration` adds a real etcd + kube-apiserver, started
// once per run by the global setup and shared by every file.
export default defineConfig({
  test: {
    // Vitest's default is one worker fewer than the cores (one, on a 2-core CI machine). The
    // integration files mostly wait (AWS transitions, lease expiry, resync periods), so three run
    // side by side without starving each other.
    maxWorkers: 3,
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
          name: 'adapters',
          include: ['test/adapters/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'emulator-rules',
          include: ['test/emulator-rules/**/*.test.ts'],
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
