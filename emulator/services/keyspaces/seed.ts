// The `cassandra` seed section: { keyspaces: [{ name, region?, accountId?, tables: [{ name,
// encryption?, status?, schemaDefinition? }] }] }. Seeded tables bind to their keys (two grants each)
// exactly like created ones.

import { seedList, seedScope } from '../../core/seed.ts';
import type { JsonObject } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import type { TableLifecycle } from './lifecycle.ts';
import { namePattern, parseEncryption } from './rules.ts';
import type { EncryptionSpec, Keyspace, KeyspacesStore, TableStatus } from './state.ts';

const seedableStatuses: readonly string[] = [
  'ACTIVE',
  'CREATING',
  'UPDATING',
  'DELETING',
  'INACCESSIBLE_ENCRYPTION_CREDENTIALS',
];

export function seedKeyspaces(
  world: World,
  store: KeyspacesStore,
  life: TableLifecycle,
  section: unknown,
): void {
  const keyspaces = seedList(section, 'cassandra', 'keyspaces');
  if (keyspaces === undefined) return;
  const now = world.clock.now();
  for (const raw of keyspaces) {
    const name = String(raw['name'] ?? '');
    if (!namePattern.test(name)) throw new Error(`seed: invalid keyspace name ${JSON.stringify(name)}`);
    const { region, accountId } = seedScope(raw, world.config);
    const scope = store.scopeOf(accountId, region);
    const ks = scope.keyspaces.get(name) ?? store.addKeyspace(scope, name);
    for (const tr of (raw['tables'] as JsonObject[] | undefined) ?? [])
      seedTable(world, store, life, ks, tr, now);
  }
}

function seedTable(
  world: World,
  store: KeyspacesStore,
  life: TableLifecycle,
  ks: Keyspace,
  raw: JsonObject,
  now: number,
): void {
  const name = String(raw['name'] ?? '');
  if (!namePattern.test(name)) throw new Error(`seed: invalid table name ${JSON.stringify(name)}`);
  if (ks.tables.has(name)) throw new Error(`seed: table ${ks.name}.${name} is listed twice`);
  const enc = (raw['encryption'] ?? raw['encryptionSpecification']) as JsonObject | undefined;
  let encryption: EncryptionSpec = { type: 'AWS_OWNED_KMS_KEY' };
  if (enc) {
    try {
      encryption = parseEncryption(enc);
    } catch (e) {
      throw new Error(`seed: table ${ks.name}.${name}: ${(e as Error).message}`);
    }
  }
  const schema = (raw['schemaDefinition'] as JsonObject | undefined) ?? {
    allColumns: [{ name: 'id', type: 'text' }],
    partitionKeys: [{ name: 'id' }],
  };
  const requested = raw['status'] as TableStatus | undefined;
  if (requested !== undefined && !seedableStatuses.includes(requested))
    throw new Error(`seed: table ${ks.name}.${name}: unsupported status ${String(requested)}`);
  const t = store.newTable(ks, name, now, { schema, encryption });
  if (encryption.kmsKeyIdentifier) {
    const key = world.kms.findKey(encryption.kmsKeyIdentifier, ks.scope.region, ks.scope.accountId);
    if (!key)
      throw new Error(`seed: table ${ks.name}.${name}: KMS key ${encryption.kmsKeyIdentifier} not found`);
    t.grants = life.createGrants(key, t);
  }
  store.attachTable(t);
  const status = requested ?? (life.keyUsable(t) ? 'ACTIVE' : 'INACCESSIBLE_ENCRYPTION_CREDENTIALS');
  switch (status) {
    case 'INACCESSIBLE_ENCRYPTION_CREDENTIALS':
      life.markInaccessible(t, now);
      break;
    case 'CREATING':
      store.setStatus(t, status);
      life.scheduleCreated(t, now);
      break;
    case 'UPDATING':
      store.setStatus(t, status);
      life.scheduleUpdated(t, now);
      break;
    case 'DELETING':
      life.beginDelete(t, now);
      break;
    default:
      store.setStatus(t, 'ACTIVE');
  }
}
