// The `kinesisanalytics` section of a seed document (format in index.ts). Seeded applications skip
// the policy evaluation (there is no caller); a RUNNING one runs on the key's current material, and its
// operation history shows the StartApplication that got it there (MSF-025), at the seed's time.

import type { World } from '../../core/world.ts';
import { appArn, cmkRuntimes, keyTypes, namePattern, runtimes } from './rules.ts';
import {
  type Application,
  freshApplicationState,
  type KeyRef,
  type KeyType,
  type MsfStore,
  type Status,
} from './state.ts';

export function seedMsf(world: World, store: MsfStore, section: unknown): void {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) {
    throw new Error('seed: kinesisanalytics must be a mapping with `applications`');
  }
  const list = (section as Record<string, unknown>)['applications'] ?? [];
  if (!Array.isArray(list)) throw new Error('seed: kinesisanalytics.applications must be a list');
  for (const raw of list as Array<Record<string, unknown>>) {
    const name = String(raw['name'] ?? '');
    if (!namePattern.test(name) || name.length > 128) {
      throw new Error(`seed: kinesisanalytics application name ${JSON.stringify(raw['name'])} is not valid`);
    }
    const region = String(raw['region'] ?? world.config.defaultRegion);
    const accountId = String(raw['accountId'] ?? world.config.accountId);
    const runtime = String(raw['runtime'] ?? 'FLINK-1_20');
    if (!(runtimes as readonly string[]).includes(runtime)) {
      throw new Error(`seed: kinesisanalytics application ${name}: unknown runtime ${runtime}`);
    }
    const status = String(raw['status'] ?? 'READY');
    if (status !== 'READY' && status !== 'RUNNING') {
      throw new Error(`seed: kinesisanalytics application ${name}: status must be READY or RUNNING`);
    }
    const keyId = raw['keyId'] === undefined ? undefined : String(raw['keyId']);
    const keyType = String(raw['keyType'] ?? (keyId ? 'CUSTOMER_MANAGED_KEY' : 'AWS_OWNED_KEY')) as KeyType;
    const snapshotsEnabled = raw['snapshotsEnabled'] ?? true;
    if (typeof snapshotsEnabled !== 'boolean')
      throw new Error(`seed: kinesisanalytics application ${name}: snapshotsEnabled must be true or false`);
    if (!keyTypes.includes(keyType))
      throw new Error(`seed: kinesisanalytics application ${name}: bad keyType`);
    if (store.has(accountId, region, name)) {
      throw new Error(`seed: kinesisanalytics application ${name} is defined twice in ${region}`);
    }
    let configured: KeyRef = { keyType: 'AWS_OWNED_KEY' };
    if (keyType === 'CUSTOMER_MANAGED_KEY') {
      if (!keyId)
        throw new Error(`seed: kinesisanalytics application ${name}: CUSTOMER_MANAGED_KEY needs keyId`);
      if (!cmkRuntimes.has(runtime)) {
        throw new Error(`seed: kinesisanalytics application ${name}: a CMK needs FLINK-1_20 or later`);
      }
      const key = world.kms.findKey(keyId, region, accountId);
      // A key ARN that KMS does not know is kept as is, so seeds can model an application left on a
      // deleted key; anything else unresolvable is a mistake in the seed.
      if (!key && !/^arn:[^:]+:kms:[^:]+:\d{12}:key\//.test(keyId)) {
        throw new Error(`seed: kinesisanalytics application ${name}: KMS key ${keyId} not found`);
      }
      configured = { keyType, keyArn: key?.arn ?? keyId };
    }
    const tags = new Map<string, string>();
    const rawTags = raw['tags'];
    if (rawTags && typeof rawTags === 'object' && !Array.isArray(rawTags)) {
      for (const [k, value] of Object.entries(rawTags)) tags.set(k, String(value));
    }
    store.watchKeys();
    const now = world.clock.now();
    const app: Application = {
      accountId,
      region,
      name,
      arn: appArn(region, accountId, name),
      runtime,
      role: String(raw['serviceExecutionRole'] ?? `arn:aws:iam::${accountId}:role/${name}-role`),
      mode: 'STREAMING',
      status: status as Status,
      token: store.newToken(),
      createdAt: now,
      updatedAt: now,
      versionCreatedAt: now,
      encryptionDeclared: raw['keyType'] !== undefined || keyId !== undefined,
      configured,
      tags,
      ...freshApplicationState(),
      snapshotsEnabled,
    };
    store.add(app);
    if (status === 'RUNNING') {
      store.setRunning(app, store.provision(app));
      store.endOperation(store.beginOperation(app, 'StartApplication', now), 'SUCCESSFUL');
    }
  }
}
