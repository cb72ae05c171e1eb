// Test support: an in-process emulator per test file, and SDK clients pointed at it the standard
// way (an endpoint URL, a region and static credentials), exactly as the operator configures them.

import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type EmulatorAdmin, emulatorAdmin } from '../../../emulator/client.ts';
import type { EmulatorConfig } from '../../../emulator/core/world.ts';
import { type RunningEmulator, startEmulator } from '../../../emulator/index.ts';

export interface EmulatorFixture {
  emulator: RunningEmulator;
  admin: EmulatorAdmin;
  /** SDK client config: `new KMSClient(fixture.clientConfig())`. */
  clientConfig(opts?: { region?: string; accessKeyId?: string }): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
}

/**
 * Starts one emulator for the file; resets it before each test with `config` (instant transitions by
 * default, so tests advance the clock instead of sleeping).
 */
export function useEmulator(config: Partial<EmulatorConfig> = {}): EmulatorFixture {
  const fixture = {} as EmulatorFixture;
  const testConfig: Partial<EmulatorConfig> = {
    transitions: { default: { min: 1000, max: 1000 } },
    ...config,
  };
  beforeAll(async () => {
    fixture.emulator = await startEmulator({ config: testConfig });
    fixture.admin = emulatorAdmin(fixture.emulator.url);
  });
  beforeEach(() => {
    fixture.emulator.reset(testConfig);
    fixture.emulator.world().clock.freeze(Date.UTC(2026, 10, 23, 12, 0, 0));
  });
  afterAll(async () => {
    await fixture.emulator?.close();
  });
  fixture.clientConfig = (opts = {}) => ({
    endpoint: fixture.emulator.url,
    region: opts.region ?? 'us-east-1',
    credentials: {
      accessKeyId: opts.accessKeyId ?? 'AKIAEMULATORADMIN0001',
      secretAccessKey: 'emulator-secret',
    },
    maxAttempts: 1,
  });
  return fixture;
}
