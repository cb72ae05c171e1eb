// The `emr-serverless` seed section: { applications: [{ name, id?, state?, diskEncryption?, region?,
// tags?, releaseLabel?, type?, autoStart?, interactiveConfiguration?, accountId? }] }. Seeds are
// trusted: keys are not checked. `interactiveConfiguration: {sessionEnabled: true}` with a release of
// emr-7.13.0 or later lets the application run interactive sessions (EMR-012).

import { seedList, seedScope } from '../../core/seed.ts';
import type { JsonObject } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import type { EmrLifecycle } from './lifecycle.ts';
import type { AppState, DiskEncryption, EmrStore } from './state.ts';

export function seedEmr(world: World, store: EmrStore, life: EmrLifecycle, section: unknown): void {
  const list = seedList(section, 'emr-serverless', 'applications', 'an');
  if (list === undefined) return;
  const now = world.clock.now();
  for (const raw of list) {
    const { region, accountId } = seedScope(raw, world.config);
    const id = raw['id'] === undefined ? undefined : String(raw['id']);
    if (id !== undefined && !/^[0-9a-z]{1,64}$/.test(id))
      throw new Error(
        `seed: emr-serverless application id ${JSON.stringify(id)} must be lowercase alphanumeric`,
      );
    if (id !== undefined && store.has(accountId, region, id))
      throw new Error(`seed: emr-serverless application ${id} is listed twice`);
    const state = (raw['state'] as AppState | undefined) ?? 'CREATED';
    if (!['CREATED', 'STARTED', 'STOPPED'].includes(state))
      throw new Error(`seed: emr-serverless application state ${state} must be CREATED, STARTED or STOPPED`);
    const diskRaw = (raw['diskEncryption'] ?? raw['diskEncryptionConfiguration']) as JsonObject | undefined;
    let disk: DiskEncryption | undefined;
    if (diskRaw && typeof diskRaw['encryptionKeyArn'] === 'string') {
      disk = {
        encryptionKeyArn: diskRaw['encryptionKeyArn'],
        ...(diskRaw['encryptionContext']
          ? { encryptionContext: { ...(diskRaw['encryptionContext'] as Record<string, string>) } }
          : {}),
      };
    }
    const app = store.newApplication(store.scopeOf(accountId, region), now, {
      ...(id !== undefined ? { id } : {}),
      ...(raw['name'] !== undefined ? { name: String(raw['name']) } : {}),
      releaseLabel: typeof raw['releaseLabel'] === 'string' ? raw['releaseLabel'] : 'emr-7.5.0',
      type: typeof raw['type'] === 'string' ? raw['type'].toUpperCase() : 'SPARK',
      state,
      autoStart: raw['autoStart'] !== false,
      tags: { ...((raw['tags'] as Record<string, string> | undefined) ?? {}) },
      ...(disk ? { disk } : {}),
      config: interactiveConfigOf(raw['interactiveConfiguration']),
    });
    life.armIdle(app, now);
  }
}

function interactiveConfigOf(raw: unknown): JsonObject {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('seed: emr-serverless interactiveConfiguration must be an object');
  return { interactiveConfiguration: { ...(raw as JsonObject) } };
}
