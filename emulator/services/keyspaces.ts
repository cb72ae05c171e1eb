// The Amazon Keyspaces control-plane emulator (awsJson1_0, target KeyspacesService, SigV4 name
// `cassandra`). Contract: keyspaces and tables scoped by account+region; tables walk
// CREATING/UPDATING/DELETING -> ACTIVE/gone on the emulator timeline; a table on a customer managed
// key holds two KMS grants (one retired at deletion, one 42 days later), goes
// INACCESSIBLE_ENCRYPTION_CREDENTIALS while its key is unusable and is deleted after 7 days of that;
// at most 50 DDL operations run at once per account+region. Key policy decisions belong to KMS
// (world.kms.serviceUseDenied); this file never evaluates policies itself.
//
// Choices where AWS is UNCONFIRMED (spec §4, §10), always the stricter reading:
// - kmsKeyIdentifier must be a key ARN in the caller's account and region; alias ARNs, bare key ids
//   and cross-account/cross-region keys are refused with ValidationException.
// - Every key problem (missing, not Enabled, not a symmetric customer managed key, KMS denies
//   Keyspaces, grant quota full) is a ValidationException, the way CQL reports "Invalid Request".
//   A full grant quota (KMS LimitExceededException) is a ValidationException too, not
//   ServiceQuotaExceeded: waiting does not fix it, so callers should not retry it blindly.
// - UpdateTable takes one setting per call; encryptionSpecification mixed with anything else is a
//   ValidationException; the only combination accepted is capacitySpecification with
//   autoScalingSpecification/replicaSpecifications.
// - Switching keys: two grants are created on the new key when UpdateTable is accepted; both grants
//   on the old key are retired when the update completes (old backups are re-wrapped, KS-007/008).
// - A CMK table whose key is unusable when CREATING finishes fails to create: it disappears and both
//   grants are retired (KS-021). An UPDATING table whose key is unusable at completion goes
//   INACCESSIBLE_ENCRYPTION_CREDENTIALS. Only ACTIVE tables accept UpdateTable.
// - INACCESSIBLE_ENCRYPTION_CREDENTIALS -> ACTIVE as soon as the key is Enabled again; the 7-day
//   countdown starts when the key change is seen and is cancelled on recovery.

import type { ScheduledEvent } from '../core/clock.ts';
import { AwsError, epochSeconds } from '../core/protocol.ts';
import { seededRandom } from '../core/random.ts';
import type { CallContext, JsonObject, ServiceRuntime } from '../core/service.ts';
import { validator } from '../core/validate.ts';
import type { KeyView, World } from '../core/world.ts';

type TableStatus =
  | 'ACTIVE'
  | 'CREATING'
  | 'UPDATING'
  | 'DELETING'
  | 'DELETED'
  | 'RESTORING'
  | 'INACCESSIBLE_ENCRYPTION_CREDENTIALS';

type EncryptionType = 'AWS_OWNED_KMS_KEY' | 'CUSTOMER_MANAGED_KMS_KEY';

interface EncryptionSpec {
  type: EncryptionType;
  kmsKeyIdentifier?: string;
}

interface TableGrants {
  keyArn: string;
  /** Retired at deletion. */
  tableGrantId: string;
  /** Protects the automatic backup; retired 42 days after deletion (KS-015). */
  backupGrantId: string;
}

interface Scope {
  accountId: string;
  region: string;
  keyspaces: Map<string, Keyspace>;
  /** Keyspace names, sorted, for stable pagination. */
  names: string[];
  /** Tables in CREATING/UPDATING/DELETING: the DDL concurrency quota. */
  ddlInFlight: number;
}

interface Keyspace {
  scope: Scope;
  name: string;
  arn: string;
  system: boolean;
  replicationStrategy: 'SINGLE_REGION' | 'MULTI_REGION';
  replicationRegions: string[];
  tags: Map<string, string>;
  tables: Map<string, Table>;
  tableNames: string[];
}

interface Table {
  /** Unique per incarnation, so a re-created table never shares grant names with its predecessor. */
  uid: string;
  keyspace: Keyspace;
  name: string;
  arn: string;
  status: TableStatus;
  createdAt: number;
  schema: JsonObject;
  capacity: {
    throughputMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
    readCapacityUnits?: number;
    writeCapacityUnits?: number;
    lastUpdateToPayPerRequestTimestamp?: number;
  };
  encryption: EncryptionSpec;
  grants?: TableGrants;
  /** Grants on the previous key, retired when the key switch completes. */
  outgoingGrants?: TableGrants;
  pitr: { status: 'ENABLED' | 'DISABLED'; earliestRestorableTimestamp?: number };
  ttl: 'ENABLED' | 'DISABLED';
  defaultTimeToLive: number;
  comment: string;
  clientSideTimestamps?: 'ENABLED';
  cdc?: JsonObject;
  autoScaling?: JsonObject;
  replicaSpecifications?: unknown[];
  warmThroughput?: JsonObject;
  tags: Map<string, string>;
  /** The 7-day countdown while the key is unusable. */
  lockout?: ScheduledEvent;
}

const v = validator('ValidationException');
const servicePrincipal = 'cassandra.amazonaws.com';
/** KS-016. */
const grantOperations = [
  'DescribeKey',
  'GenerateDataKey',
  'Decrypt',
  'Encrypt',
  'ReEncryptFrom',
  'ReEncryptTo',
  'RetireGrant',
];
const day = 86_400_000;
const lockoutMs = 7 * day;
const backupGrantMs = 42 * day;
const ddlLimit = 50;
const maxTags = 50;
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$/;
const systemKeyspaces = ['system', 'system_multiregion_info', 'system_schema', 'system_schema_mcs'];
const ddlStates: ReadonlySet<TableStatus> = new Set(['CREATING', 'UPDATING', 'DELETING']);
const cqlTypes = new Set([
  'ascii',
  'bigint',
  'blob',
  'boolean',
  'counter',
  'date',
  'decimal',
  'double',
  'float',
  'frozen',
  'inet',
  'int',
  'list',
  'map',
  'set',
  'smallint',
  'text',
  'time',
  'timestamp',
  'timeuuid',
  'tinyint',
  'tuple',
  'uuid',
  'varchar',
  'varint',
]);

const validation = (message: string) => new AwsError('ValidationException', message, 400);
const conflict = (message: string) => new AwsError('ConflictException', message, 409);
const notFound = (message: string, resourceArn: string) =>
  new AwsError('ResourceNotFoundException', message, 404, { resourceArn });
const quotaExceeded = (message: string) => new AwsError('ServiceQuotaExceededException', message, 402);

// Sorted-name helpers: O(log n) seek for pagination over thousands of tables.
function lowerBound(names: readonly string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(names: string[], key: string): void {
  names.splice(lowerBound(names, key), 0, key);
}

function removeSorted(names: string[], key: string): void {
  const i = lowerBound(names, key);
  if (names[i] === key) names.splice(i, 1);
}

function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

function decodeToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through to the error below
  }
  throw validation('The nextToken is not valid');
}

/** A page of `names` strictly after the token's name. */
function page(
  names: readonly string[],
  input: JsonObject,
  defaultMax: number,
): { slice: string[]; nextToken?: string } {
  const max = v.optInt(input, 'maxResults', { min: 1, max: 1000 }) ?? defaultMax;
  const after = decodeToken(v.optStr(input, 'nextToken', { min: 1 }));
  let start = 0;
  if (after !== undefined) {
    start = lowerBound(names, after);
    if (names[start] === after) start++;
  }
  const slice = names.slice(start, start + max);
  const more = start + max < names.length;
  return more ? { slice, nextToken: encodeToken(slice[slice.length - 1]!) } : { slice };
}

function list(input: JsonObject, member: string): JsonObject[] | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((x) => x === null || typeof x !== 'object' || Array.isArray(x)))
    v.fail(
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a list of structures`,
    );
  return value as JsonObject[];
}

function parseTags(input: JsonObject, member: string): Array<[string, string]> {
  const tags = list(input, member) ?? [];
  if (tags.length > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
  return tags.map((t) => [v.str(t, 'key', { min: 1, max: 128 }), v.str(t, 'value', { min: 1, max: 256 })]);
}

function validateSchema(schema: JsonObject): JsonObject {
  const columns = list(schema, 'allColumns');
  const partitionKeys = list(schema, 'partitionKeys');
  if (!columns || columns.length === 0)
    v.fail(
      "1 validation error detected: Value null at 'schemaDefinition.allColumns' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  if (!partitionKeys || partitionKeys.length === 0)
    v.fail(
      "1 validation error detected: Value null at 'schemaDefinition.partitionKeys' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  const types = new Map<string, string>();
  for (const c of columns!) {
    const name = v.str(c, 'name', { min: 1, max: 48 });
    const type = v.str(c, 'type', { min: 1 }).trim().toLowerCase();
    const base = type.split('<')[0]!.trim();
    if (!cqlTypes.has(base)) throw validation(`Unknown type ${type} for column ${name}`);
    if (types.has(name)) throw validation(`Duplicate column name ${name}`);
    types.set(name, type);
  }
  const keyNames = new Set<string>();
  const useKey = (name: string, role: string) => {
    if (!types.has(name)) throw validation(`Unknown ${role} column ${name}: not defined in allColumns`);
    if (keyNames.has(name)) throw validation(`Column ${name} is used more than once as a key column`);
    const type = types.get(name)!;
    if (/^(list|set|map)\s*</.test(type) || type === 'counter')
      throw validation(`Invalid ${role} column ${name}: type ${type} cannot be part of the primary key`);
    keyNames.add(name);
  };
  for (const p of partitionKeys!) useKey(v.str(p, 'name', { min: 1 }), 'partition key');
  const clustering = list(schema, 'clusteringKeys') ?? [];
  for (const c of clustering) {
    useKey(v.str(c, 'name', { min: 1 }), 'clustering key');
    v.enumOf(c, 'orderBy', ['ASC', 'DESC']);
  }
  const statics = list(schema, 'staticColumns') ?? [];
  if (statics.length > 0 && clustering.length === 0)
    throw validation('Static columns are only allowed in tables with clustering columns');
  for (const s of statics) {
    const name = v.str(s, 'name', { min: 1 });
    if (!types.has(name)) throw validation(`Unknown static column ${name}: not defined in allColumns`);
    if (keyNames.has(name)) throw validation(`Primary key column ${name} cannot be static`);
  }
  return structuredClone(schema);
}

function parseCapacity(raw: JsonObject): Table['capacity'] {
  const throughputMode = v.enumOf(raw, 'throughputMode', ['PAY_PER_REQUEST', 'PROVISIONED']);
  const readCapacityUnits = v.optInt(raw, 'readCapacityUnits', { min: 1 });
  const writeCapacityUnits = v.optInt(raw, 'writeCapacityUnits', { min: 1 });
  if (throughputMode === 'PROVISIONED') {
    if (readCapacityUnits === undefined || writeCapacityUnits === undefined)
      throw validation(
        'readCapacityUnits and writeCapacityUnits are required for PROVISIONED throughput mode',
      );
    return { throughputMode, readCapacityUnits, writeCapacityUnits };
  }
  if (readCapacityUnits !== undefined || writeCapacityUnits !== undefined)
    throw validation(
      'readCapacityUnits and writeCapacityUnits are only valid for PROVISIONED throughput mode',
    );
  return { throughputMode };
}

const keyArnPattern = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;

function parseEncryption(raw: JsonObject): EncryptionSpec {
  const type = v.enumOf(raw, 'type', ['AWS_OWNED_KMS_KEY', 'CUSTOMER_MANAGED_KMS_KEY'] as const);
  const id = v.optStr(raw, 'kmsKeyIdentifier', { min: 1, max: 5096 });
  if (type === 'AWS_OWNED_KMS_KEY') {
    if (id !== undefined)
      throw validation('kmsKeyIdentifier can only be specified with type CUSTOMER_MANAGED_KMS_KEY');
    return { type };
  }
  if (id === undefined)
    throw validation('kmsKeyIdentifier is required when the encryption type is CUSTOMER_MANAGED_KMS_KEY');
  if (/^arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias\//.test(id) || id.startsWith('alias/'))
    throw validation(
      `Invalid kmsKeyIdentifier ${id}: aliases are not accepted, specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    );
  if (!keyArnPattern.test(id))
    throw validation(
      `Invalid kmsKeyIdentifier ${id}: specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    );
  return { type, kmsKeyIdentifier: id };
}

const sameEncryption = (a: EncryptionSpec, b: EncryptionSpec) =>
  a.type === b.type && (a.kmsKeyIdentifier ?? '') === (b.kmsKeyIdentifier ?? '');

/** Settings UpdateTable knows; the request names exactly one of them (see the header). */
const updateSettings = [
  'addColumns',
  'capacitySpecification',
  'encryptionSpecification',
  'pointInTimeRecovery',
  'ttl',
  'defaultTimeToLive',
  'clientSideTimestamps',
  'autoScalingSpecification',
  'replicaSpecifications',
  'cdcSpecification',
  'warmThroughputSpecification',
] as const;
const combinable: ReadonlySet<string> = new Set([
  'capacitySpecification',
  'autoScalingSpecification',
  'replicaSpecifications',
]);

export function createKeyspacesService(world: World): ServiceRuntime {
  const ids = seededRandom(world.config.seed ^ 0xca55a);
  const scopes = new Map<string, Scope>();
  /** Tables bound to each key ARN, so a key change touches only its own tables. */
  const tablesByKey = new Map<string, Set<Table>>();

  const uid = () => Array.from({ length: 16 }, () => ids.int(0, 15).toString(16)).join('');

  function scopeOf(accountId: string, region: string): Scope {
    const id = `${accountId}/${region}`;
    let s = scopes.get(id);
    if (!s) {
      s = { accountId, region, keyspaces: new Map(), names: [], ddlInFlight: 0 };
      scopes.set(id, s);
      // AWS lists its system keyspaces in every account and Region; an operator must skip them.
      for (const name of systemKeyspaces) addKeyspace(s, name, true);
    }
    return s;
  }

  function addKeyspace(scope: Scope, name: string, system = false): Keyspace {
    const ks: Keyspace = {
      scope,
      name,
      arn: `arn:aws:cassandra:${scope.region}:${scope.accountId}:/keyspace/${name}/`,
      system,
      replicationStrategy: 'SINGLE_REGION',
      replicationRegions: [],
      tags: new Map(),
      tables: new Map(),
      tableNames: [],
    };
    scope.keyspaces.set(name, ks);
    insertSorted(scope.names, name);
    return ks;
  }

  const keyspaceArn = (ctx: CallContext, name: string) =>
    `arn:aws:cassandra:${ctx.region}:${ctx.accountId}:/keyspace/${name}/`;
  const tableArn = (ctx: CallContext, ks: string, t: string) =>
    `arn:aws:cassandra:${ctx.region}:${ctx.accountId}:/keyspace/${ks}/table/${t}`;

  function keyspaceFor(ctx: CallContext, name: string): Keyspace {
    const ks = scopeOf(ctx.accountId, ctx.region).keyspaces.get(name);
    if (!ks) throw notFound(`Keyspace ${name} does not exist`, keyspaceArn(ctx, name));
    return ks;
  }

  function tableFor(ctx: CallContext, ksName: string, name: string): Table {
    const ks = keyspaceFor(ctx, ksName);
    const t = ks.tables.get(name);
    if (!t) throw notFound(`Table ${ksName}.${name} does not exist`, tableArn(ctx, ksName, name));
    return t;
  }

  function setStatus(t: Table, status: TableStatus): void {
    const was = ddlStates.has(t.status);
    const is = ddlStates.has(status);
    if (was !== is) t.keyspace.scope.ddlInFlight += is ? 1 : -1;
    t.status = status;
  }

  function checkDdlQuota(ctx: CallContext): void {
    if (scopeOf(ctx.accountId, ctx.region).ddlInFlight >= ddlLimit)
      throw quotaExceeded(
        `The number of concurrent DDL operations in ${ctx.region} exceeds the quota of ${ddlLimit}. Retry once some CREATING, UPDATING or DELETING tables have finished`,
      );
  }

  const encryptionContext = (t: { keyspace: Keyspace; name: string }) => ({
    'aws:cassandra:keyspaceName': t.keyspace.name,
    'aws:cassandra:tableName': t.name,
    'aws:cassandra:subscriberId': t.keyspace.scope.accountId,
  });

  function bindKey(t: Table, keyArn: string): void {
    let set = tablesByKey.get(keyArn);
    if (!set) {
      set = new Set();
      tablesByKey.set(keyArn, set);
    }
    set.add(t);
  }

  function unbindKey(t: Table, keyArn: string): void {
    const set = tablesByKey.get(keyArn);
    if (!set) return;
    set.delete(t);
    if (set.size === 0) tablesByKey.delete(keyArn);
  }

  /** The checks Keyspaces makes (DescribeKey + its own KMS calls on the caller's behalf) before using a key. */
  function usableKey(
    ctx: CallContext,
    t: { keyspace: Keyspace; name: string; arn: string },
    arn: string,
  ): KeyView {
    const [, region, account] = keyArnPattern.exec(arn)!;
    if (region !== ctx.region)
      throw validation(
        `The KMS key ${arn} is in ${region}; Amazon Keyspaces tables in ${ctx.region} can only use KMS keys in ${ctx.region}`,
      );
    if (account !== ctx.accountId)
      throw validation(
        `The KMS key ${arn} belongs to account ${account}; use a KMS key in account ${ctx.accountId}`,
      );
    const key = world.kms.findKey(arn, ctx.region, ctx.accountId);
    if (!key) throw validation(`The KMS key ${arn} does not exist or is not accessible to Amazon Keyspaces`);
    if (key.keyManager !== 'CUSTOMER')
      throw validation(`The KMS key ${arn} is an AWS managed key; specify a customer managed key`);
    if (key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT')
      throw validation(
        `The KMS key ${arn} is not a symmetric encryption key (KeySpec ${key.keySpec}, KeyUsage ${key.keyUsage}); Amazon Keyspaces supports only symmetric encryption KMS keys`,
      );
    if (key.state !== 'Enabled')
      throw validation(
        `The KMS key ${arn} is ${key.state}; Amazon Keyspaces can only use an Enabled KMS key`,
      );
    const denied = world.kms.serviceUseDenied({
      key,
      service: 'cassandra',
      caller: ctx.caller,
      region: ctx.region,
      accountId: ctx.accountId,
      sourceArn: t.arn,
      encryptionContext: encryptionContext(t),
    });
    if (denied !== undefined)
      throw validation(
        `Amazon Keyspaces could not use the KMS key ${arn} on behalf of ${ctx.caller.arn}: ${denied}`,
      );
    return key;
  }

  /** Creates both grants or neither. */
  function createGrants(key: KeyView, t: Table): TableGrants {
    const base = {
      granteeServicePrincipal: servicePrincipal,
      retiringServicePrincipal: servicePrincipal,
      operations: grantOperations,
      encryptionContextSubset: encryptionContext(t),
    };
    let tableGrantId: string | undefined;
    try {
      tableGrantId = world.kms.createServiceGrant(key.arn, { ...base, name: `keyspaces-${t.uid}-table` });
      const backupGrantId = world.kms.createServiceGrant(key.arn, {
        ...base,
        name: `keyspaces-${t.uid}-backup`,
      });
      return { keyArn: key.arn, tableGrantId, backupGrantId };
    } catch (e) {
      if (tableGrantId !== undefined) world.kms.retireServiceGrant(key.arn, tableGrantId);
      if (e instanceof AwsError && e.code === 'LimitExceededException')
        throw validation(
          `Amazon Keyspaces could not create grants on the KMS key ${key.arn}: the key has reached its grant quota (KMS LimitExceededException). Retire unused grants or use another key`,
        );
      throw e;
    }
  }

  function retireGrants(g: TableGrants | undefined): void {
    if (!g) return;
    world.kms.retireServiceGrant(g.keyArn, g.tableGrantId);
    world.kms.retireServiceGrant(g.keyArn, g.backupGrantId);
  }

  function keyUsable(t: Table): boolean {
    if (t.encryption.type === 'AWS_OWNED_KMS_KEY') return true;
    const key = world.kms.findKey(
      t.encryption.kmsKeyIdentifier!,
      t.keyspace.scope.region,
      t.keyspace.scope.accountId,
    );
    return key !== undefined && key.state === 'Enabled';
  }

  function markInaccessible(t: Table, at: number): void {
    setStatus(t, 'INACCESSIBLE_ENCRYPTION_CREDENTIALS');
    t.lockout?.cancel();
    t.lockout = world.timeline.schedule(
      at + lockoutMs,
      `cassandra ${t.arn} deleted after 7 days without key access`,
      () => {
        t.lockout = undefined;
        if (t.status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS') beginDelete(t, at + lockoutMs);
      },
    );
  }

  function restoreAccess(t: Table): void {
    t.lockout?.cancel();
    t.lockout = undefined;
    setStatus(t, 'ACTIVE');
  }

  /** Where a finished CREATING/UPDATING lands: ACTIVE, or locked out when the key went away meanwhile. */
  function settleAfterDdl(t: Table, at: number): void {
    if (keyUsable(t)) setStatus(t, 'ACTIVE');
    else markInaccessible(t, at);
  }

  function removeTable(t: Table): void {
    setStatus(t, 'DELETED');
    if (t.keyspace.tables.get(t.name) === t) {
      t.keyspace.tables.delete(t.name);
      removeSorted(t.keyspace.tableNames, t.name);
    }
    if (t.encryption.kmsKeyIdentifier) unbindKey(t, t.encryption.kmsKeyIdentifier);
  }

  function beginDelete(t: Table, at: number): void {
    t.lockout?.cancel();
    t.lockout = undefined;
    setStatus(t, 'DELETING');
    // KS-015: one grant goes now, the one protecting the automatic backup 42 days later.
    const grants = t.grants;
    if (grants) {
      world.kms.retireServiceGrant(grants.keyArn, grants.tableGrantId);
      world.timeline.schedule(at + backupGrantMs, `cassandra ${t.arn} backup grant released`, () =>
        world.kms.retireServiceGrant(grants.keyArn, grants.backupGrantId),
      );
    }
    retireGrants(t.outgoingGrants);
    t.outgoingGrants = undefined;
    const done = at + world.transitionMs('cassandra.DELETING');
    world.timeline.schedule(done, `cassandra ${t.arn} deleted`, () => removeTable(t));
  }

  function scheduleCreated(t: Table, at: number): void {
    const done = at + world.transitionMs('cassandra.CREATING');
    world.timeline.schedule(done, `cassandra ${t.arn} CREATING -> ACTIVE`, () => {
      if (t.status !== 'CREATING') return;
      if (keyUsable(t)) {
        setStatus(t, 'ACTIVE');
        return;
      }
      // KS-021: creation fails when the key became unusable before it completed.
      retireGrants(t.grants);
      t.grants = undefined;
      removeTable(t);
    });
  }

  function scheduleUpdated(t: Table, at: number): void {
    const done = at + world.transitionMs('cassandra.UPDATING');
    world.timeline.schedule(done, `cassandra ${t.arn} UPDATING -> ACTIVE`, () => {
      if (t.status !== 'UPDATING') return;
      retireGrants(t.outgoingGrants);
      t.outgoingGrants = undefined;
      settleAfterDdl(t, done);
    });
  }

  world.kms.onKeyChange((key, deleted) => {
    const tables = tablesByKey.get(key.arn);
    if (!tables) return;
    const usable = !deleted && key.state === 'Enabled';
    const now = world.clock.now();
    for (const t of [...tables]) {
      if (!usable && t.status === 'ACTIVE') markInaccessible(t, now);
      else if (usable && t.status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS') restoreAccess(t);
      // CREATING/UPDATING tables look at the key again when their transition completes.
    }
  });

  function newTable(
    ks: Keyspace,
    name: string,
    at: number,
    fields: Partial<Table> & Pick<Table, 'schema'>,
  ): Table {
    return {
      uid: uid(),
      keyspace: ks,
      name,
      arn: `arn:aws:cassandra:${ks.scope.region}:${ks.scope.accountId}:/keyspace/${ks.name}/table/${name}`,
      // Not yet counted against the DDL quota; setStatus moves it into its first real status.
      status: 'DELETED',
      createdAt: at,
      capacity: { throughputMode: 'PAY_PER_REQUEST' },
      encryption: { type: 'AWS_OWNED_KMS_KEY' },
      pitr: { status: 'DISABLED' },
      ttl: 'DISABLED',
      defaultTimeToLive: 0,
      comment: '',
      tags: new Map(),
      ...fields,
    };
  }

  function attachTable(t: Table): void {
    t.keyspace.tables.set(t.name, t);
    insertSorted(t.keyspace.tableNames, t.name);
    if (t.encryption.kmsKeyIdentifier) bindKey(t, t.encryption.kmsKeyIdentifier);
  }

  function resourceFor(ctx: CallContext, arn: string): { tags: Map<string, string> } {
    const m =
      /^arn:aws[a-z-]*:cassandra:([a-z0-9-]+):(\d{12}):\/keyspace\/([^/]+)\/?(?:table\/([^/]+))?$/.exec(arn);
    if (!m) throw validation(`Invalid resourceArn ${arn}`);
    const [, region, account, ksName, tableName] = m;
    const ks = scopeOf(account!, region!).keyspaces.get(ksName!);
    const missing = () => notFound(`The resource ${arn} does not exist`, arn);
    if (!ks || account !== ctx.accountId) throw missing();
    if (tableName === undefined) {
      if (ks.system) throw validation(`System keyspace ${ks.name} cannot be tagged`);
      return ks;
    }
    const t = ks.tables.get(tableName);
    if (!t) throw missing();
    return t;
  }

  function describeTable(t: Table): JsonObject {
    return {
      keyspaceName: t.keyspace.name,
      tableName: t.name,
      resourceArn: t.arn,
      creationTimestamp: epochSeconds(t.createdAt),
      status: t.status,
      schemaDefinition: t.schema,
      capacitySpecification: {
        throughputMode: t.capacity.throughputMode,
        ...(t.capacity.readCapacityUnits !== undefined
          ? { readCapacityUnits: t.capacity.readCapacityUnits }
          : {}),
        ...(t.capacity.writeCapacityUnits !== undefined
          ? { writeCapacityUnits: t.capacity.writeCapacityUnits }
          : {}),
        ...(t.capacity.lastUpdateToPayPerRequestTimestamp !== undefined
          ? {
              lastUpdateToPayPerRequestTimestamp: epochSeconds(t.capacity.lastUpdateToPayPerRequestTimestamp),
            }
          : {}),
      },
      encryptionSpecification: { ...t.encryption },
      pointInTimeRecovery: {
        status: t.pitr.status,
        ...(t.pitr.earliestRestorableTimestamp !== undefined
          ? { earliestRestorableTimestamp: epochSeconds(t.pitr.earliestRestorableTimestamp) }
          : {}),
      },
      ttl: { status: t.ttl },
      defaultTimeToLive: t.defaultTimeToLive,
      comment: { message: t.comment },
      ...(t.clientSideTimestamps ? { clientSideTimestamps: { status: t.clientSideTimestamps } } : {}),
      ...(t.cdc ? { cdcSpecification: { status: t.cdc['status'], viewType: t.cdc['viewType'] } } : {}),
      ...(t.replicaSpecifications
        ? {
            replicaSpecifications: t.replicaSpecifications.map((r) => ({
              region: (r as JsonObject)['region'],
              status: t.status,
              capacitySpecification: { throughputMode: t.capacity.throughputMode },
            })),
          }
        : {}),
    };
  }

  function refuseSystem(ks: Keyspace): void {
    if (ks.system) throw validation(`Keyspace ${ks.name} is a system keyspace and cannot be modified`);
  }

  const operations = {
    CreateKeyspace(ctx: CallContext, input: JsonObject) {
      const name = v.str(input, 'keyspaceName', { min: 1, max: 48, pattern: namePattern });
      const tags = parseTags(input, 'tags');
      const replication = v.optObject(input, 'replicationSpecification');
      let strategy: Keyspace['replicationStrategy'] = 'SINGLE_REGION';
      let regions: string[] = [];
      if (replication) {
        strategy = v.enumOf(replication, 'replicationStrategy', ['SINGLE_REGION', 'MULTI_REGION'] as const);
        regions = v.optStringList(replication, 'regionList') ?? [];
        if (strategy === 'MULTI_REGION' && (regions.length < 2 || !regions.includes(ctx.region)))
          throw validation(
            'A MULTI_REGION keyspace needs at least two Regions, including the current Region',
          );
        if (strategy === 'SINGLE_REGION' && regions.length > 0)
          throw validation('regionList can only be specified with replicationStrategy MULTI_REGION');
      }
      const scope = scopeOf(ctx.accountId, ctx.region);
      if (scope.keyspaces.has(name)) throw conflict(`Keyspace ${name} already exists`);
      const ks = addKeyspace(scope, name);
      ks.replicationStrategy = strategy;
      ks.replicationRegions = regions;
      for (const [k, val] of tags) ks.tags.set(k, val);
      return { resourceArn: ks.arn };
    },

    GetKeyspace(ctx: CallContext, input: JsonObject) {
      const ks = keyspaceFor(ctx, v.str(input, 'keyspaceName', { min: 1, max: 48 }));
      return {
        keyspaceName: ks.name,
        resourceArn: ks.arn,
        replicationStrategy: ks.replicationStrategy,
        ...(ks.replicationStrategy === 'MULTI_REGION' ? { replicationRegions: ks.replicationRegions } : {}),
      };
    },

    ListKeyspaces(ctx: CallContext, input: JsonObject) {
      const scope = scopeOf(ctx.accountId, ctx.region);
      const { slice, nextToken } = page(scope.names, input, 100);
      return {
        keyspaces: slice.map((name) => {
          const ks = scope.keyspaces.get(name)!;
          return {
            keyspaceName: ks.name,
            resourceArn: ks.arn,
            replicationStrategy: ks.replicationStrategy,
            ...(ks.replicationStrategy === 'MULTI_REGION'
              ? { replicationRegions: ks.replicationRegions }
              : {}),
          };
        }),
        ...(nextToken ? { nextToken } : {}),
      };
    },

    DeleteKeyspace(ctx: CallContext, input: JsonObject) {
      const ks = keyspaceFor(ctx, v.str(input, 'keyspaceName', { min: 1, max: 48 }));
      refuseSystem(ks);
      const busy = [...ks.tables.values()].find((t) => t.status === 'CREATING' || t.status === 'UPDATING');
      if (busy)
        throw conflict(`Keyspace ${ks.name} cannot be deleted while table ${busy.name} is ${busy.status}`);
      checkDdlQuota(ctx);
      // Dropping a keyspace drops its tables, each through the normal deletion path (grants included).
      for (const t of ks.tables.values()) {
        if (t.status === 'ACTIVE' || t.status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS')
          beginDelete(t, ctx.now);
      }
      ks.scope.keyspaces.delete(ks.name);
      removeSorted(ks.scope.names, ks.name);
      return {};
    },

    CreateTable(ctx: CallContext, input: JsonObject) {
      const ksName = v.str(input, 'keyspaceName', { min: 1, max: 48, pattern: namePattern });
      const name = v.str(input, 'tableName', { min: 1, max: 48, pattern: namePattern });
      const schema = validateSchema(v.object(input, 'schemaDefinition'));
      const capacityRaw = v.optObject(input, 'capacitySpecification');
      const capacity = capacityRaw ? parseCapacity(capacityRaw) : undefined;
      const encRaw = v.optObject(input, 'encryptionSpecification');
      const encryption = encRaw ? parseEncryption(encRaw) : undefined;
      const pitrRaw = v.optObject(input, 'pointInTimeRecovery');
      const pitr = pitrRaw ? v.enumOf(pitrRaw, 'status', ['ENABLED', 'DISABLED'] as const) : undefined;
      const ttlRaw = v.optObject(input, 'ttl');
      const ttl = ttlRaw ? v.enumOf(ttlRaw, 'status', ['ENABLED'] as const) : undefined;
      const defaultTimeToLive = v.optInt(input, 'defaultTimeToLive', { min: 0, max: 630_720_000 });
      const commentRaw = v.optObject(input, 'comment');
      const comment = commentRaw ? v.str(commentRaw, 'message', { max: 4096 }) : undefined;
      const cstRaw = v.optObject(input, 'clientSideTimestamps');
      const cst = cstRaw ? v.enumOf(cstRaw, 'status', ['ENABLED'] as const) : undefined;
      const tags = parseTags(input, 'tags');

      const ks = keyspaceFor(ctx, ksName);
      refuseSystem(ks);
      if (ks.tables.has(name)) throw conflict(`Table ${ksName}.${name} already exists`);
      checkDdlQuota(ctx);

      const t = newTable(ks, name, ctx.now, {
        schema,
        ...(capacity ? { capacity } : {}),
        ...(encryption ? { encryption } : {}),
        ...(pitr
          ? {
              pitr:
                pitr === 'ENABLED'
                  ? { status: pitr, earliestRestorableTimestamp: ctx.now }
                  : { status: pitr },
            }
          : {}),
        ...(ttl ? { ttl } : {}),
        ...(defaultTimeToLive !== undefined ? { defaultTimeToLive } : {}),
        ...(comment !== undefined ? { comment } : {}),
        ...(cst ? { clientSideTimestamps: cst } : {}),
        ...(input['cdcSpecification'] ? { cdc: v.optObject(input, 'cdcSpecification')! } : {}),
        ...(input['autoScalingSpecification']
          ? { autoScaling: v.optObject(input, 'autoScalingSpecification')! }
          : {}),
        ...(input['warmThroughputSpecification']
          ? { warmThroughput: v.optObject(input, 'warmThroughputSpecification')! }
          : {}),
        ...(Array.isArray(input['replicaSpecifications'])
          ? { replicaSpecifications: input['replicaSpecifications'] as unknown[] }
          : {}),
        tags: new Map(tags),
      });
      if (t.encryption.type === 'CUSTOMER_MANAGED_KMS_KEY') {
        // KS-012: grants are created during the call, on behalf of the caller.
        t.grants = createGrants(usableKey(ctx, t, t.encryption.kmsKeyIdentifier!), t);
      }
      setStatus(t, 'CREATING');
      attachTable(t);
      scheduleCreated(t, ctx.now);
      return { resourceArn: t.arn };
    },

    GetTable(ctx: CallContext, input: JsonObject) {
      const t = tableFor(
        ctx,
        v.str(input, 'keyspaceName', { min: 1, max: 48 }),
        v.str(input, 'tableName', { min: 1, max: 48 }),
      );
      return describeTable(t);
    },

    ListTables(ctx: CallContext, input: JsonObject) {
      const ks = keyspaceFor(ctx, v.str(input, 'keyspaceName', { min: 1, max: 48 }));
      const { slice, nextToken } = page(ks.tableNames, input, 100);
      return {
        tables: slice.map((name) => ({
          keyspaceName: ks.name,
          tableName: name,
          resourceArn: ks.tables.get(name)!.arn,
        })),
        ...(nextToken ? { nextToken } : {}),
      };
    },

    UpdateTable(ctx: CallContext, input: JsonObject) {
      const ksName = v.str(input, 'keyspaceName', { min: 1, max: 48 });
      const name = v.str(input, 'tableName', { min: 1, max: 48 });
      const present = updateSettings.filter((s) => input[s] !== undefined && input[s] !== null);
      if (present.length === 0)
        throw validation(
          `UpdateTable needs one table setting to change; none of ${updateSettings.join(', ')} was given`,
        );
      if (present.includes('encryptionSpecification') && present.length > 1)
        throw validation(
          `encryptionSpecification must be updated on its own; this request also changes ${present.filter((s) => s !== 'encryptionSpecification').join(', ')}. Send one UpdateTable request per setting`,
        );
      if (present.length > 1 && !present.every((s) => combinable.has(s)))
        throw validation(
          `UpdateTable changes one table setting per request; this request changes ${present.join(', ')}`,
        );

      // Validate the shape before looking the table up, as AWS request validation does.
      const encryption = input['encryptionSpecification']
        ? parseEncryption(v.object(input, 'encryptionSpecification'))
        : undefined;
      const capacityRaw = v.optObject(input, 'capacitySpecification');
      const capacity = capacityRaw ? parseCapacity(capacityRaw) : undefined;
      const pitrRaw = v.optObject(input, 'pointInTimeRecovery');
      const pitr = pitrRaw ? v.enumOf(pitrRaw, 'status', ['ENABLED', 'DISABLED'] as const) : undefined;
      const ttlRaw = v.optObject(input, 'ttl');
      const ttl = ttlRaw ? v.enumOf(ttlRaw, 'status', ['ENABLED'] as const) : undefined;
      const defaultTimeToLive = v.optInt(input, 'defaultTimeToLive', { min: 0, max: 630_720_000 });
      const cstRaw = v.optObject(input, 'clientSideTimestamps');
      const cst = cstRaw ? v.enumOf(cstRaw, 'status', ['ENABLED'] as const) : undefined;
      const addColumns = list(input, 'addColumns');

      const t = tableFor(ctx, ksName, name);
      refuseSystem(t.keyspace);
      if (t.status !== 'ACTIVE')
        throw conflict(`Table ${ksName}.${name} is ${t.status}; it can only be updated when ACTIVE`);
      checkDdlQuota(ctx);

      if (encryption) {
        if (!sameEncryption(encryption, t.encryption)) {
          const incoming =
            encryption.type === 'CUSTOMER_MANAGED_KMS_KEY'
              ? createGrants(usableKey(ctx, t, encryption.kmsKeyIdentifier!), t)
              : undefined;
          if (t.encryption.kmsKeyIdentifier) unbindKey(t, t.encryption.kmsKeyIdentifier);
          t.outgoingGrants = t.grants;
          t.grants = incoming;
          t.encryption = encryption;
          if (encryption.kmsKeyIdentifier) bindKey(t, encryption.kmsKeyIdentifier);
        }
      }
      if (addColumns) {
        const columns = [...((t.schema['allColumns'] as JsonObject[]) ?? [])];
        const names = new Set(columns.map((c) => c['name']));
        for (const c of addColumns) {
          const colName = v.str(c, 'name', { min: 1, max: 48 });
          const type = v.str(c, 'type', { min: 1 });
          if (!cqlTypes.has(type.trim().toLowerCase().split('<')[0]!.trim()))
            throw validation(`Unknown type ${type} for column ${colName}`);
          if (names.has(colName)) throw validation(`Column ${colName} already exists in ${ksName}.${name}`);
          names.add(colName);
          columns.push({ name: colName, type });
        }
        t.schema = { ...t.schema, allColumns: columns };
      }
      if (capacity) {
        if (capacity.throughputMode === 'PAY_PER_REQUEST' && t.capacity.throughputMode === 'PROVISIONED')
          capacity.lastUpdateToPayPerRequestTimestamp = ctx.now;
        else if (t.capacity.lastUpdateToPayPerRequestTimestamp !== undefined)
          capacity.lastUpdateToPayPerRequestTimestamp = t.capacity.lastUpdateToPayPerRequestTimestamp;
        t.capacity = capacity;
      }
      if (pitr)
        t.pitr =
          pitr === 'ENABLED' ? { status: pitr, earliestRestorableTimestamp: ctx.now } : { status: pitr };
      if (ttl) t.ttl = ttl;
      if (defaultTimeToLive !== undefined) t.defaultTimeToLive = defaultTimeToLive;
      if (cst) t.clientSideTimestamps = cst;
      if (input['cdcSpecification']) t.cdc = v.object(input, 'cdcSpecification');
      if (input['autoScalingSpecification']) t.autoScaling = v.object(input, 'autoScalingSpecification');
      if (input['warmThroughputSpecification'])
        t.warmThroughput = v.object(input, 'warmThroughputSpecification');
      if (Array.isArray(input['replicaSpecifications']))
        t.replicaSpecifications = input['replicaSpecifications'] as unknown[];

      setStatus(t, 'UPDATING');
      scheduleUpdated(t, ctx.now);
      return { resourceArn: t.arn };
    },

    DeleteTable(ctx: CallContext, input: JsonObject) {
      const t = tableFor(
        ctx,
        v.str(input, 'keyspaceName', { min: 1, max: 48 }),
        v.str(input, 'tableName', { min: 1, max: 48 }),
      );
      refuseSystem(t.keyspace);
      if (t.status !== 'ACTIVE' && t.status !== 'INACCESSIBLE_ENCRYPTION_CREDENTIALS')
        throw conflict(`Table ${t.keyspace.name}.${t.name} is ${t.status} and cannot be deleted now`);
      checkDdlQuota(ctx);
      beginDelete(t, ctx.now);
      return {};
    },

    TagResource(ctx: CallContext, input: JsonObject) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const tags = parseTags(input, 'tags');
      if (tags.length === 0) throw validation('tags must contain at least one tag');
      const r = resourceFor(ctx, arn);
      const merged = new Map(r.tags);
      for (const [k, val] of tags) merged.set(k, val);
      if (merged.size > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
      r.tags = merged;
      return {};
    },

    UntagResource(ctx: CallContext, input: JsonObject) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const tags = list(input, 'tags') ?? [];
      if (tags.length === 0) throw validation('tags must contain at least one tag');
      const r = resourceFor(ctx, arn);
      for (const t of tags) r.tags.delete(v.str(t, 'key', { min: 1, max: 128 }));
      return {};
    },

    ListTagsForResource(ctx: CallContext, input: JsonObject) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const max = v.optInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
      const token = v.optStr(input, 'nextToken', { min: 1 });
      const start = token === undefined ? 0 : Number(decodeToken(token));
      if (!Number.isInteger(start) || start < 0) throw validation('The nextToken is not valid');
      const all = [...resourceFor(ctx, arn).tags].map(([key, value]) => ({ key, value }));
      const slice = all.slice(start, start + max);
      return {
        tags: slice,
        ...(start + max < all.length ? { nextToken: encodeToken(String(start + max)) } : {}),
      };
    },
  };

  return {
    name: 'cassandra',
    protocol: 'awsJson1_0',
    targetPrefix: 'KeyspacesService',
    operations: operations as unknown as ServiceRuntime['operations'],
    seed(section) {
      applySeed(section);
    },
    snapshot() {
      let keyspaces = 0;
      let tables = 0;
      const byStatus: Record<string, number> = {};
      for (const s of scopes.values()) {
        for (const ks of s.keyspaces.values()) {
          if (ks.system) continue;
          keyspaces++;
          for (const t of ks.tables.values()) {
            tables++;
            byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
          }
        }
      }
      return { keyspaces, tables, byStatus };
    },
  };

  // Seed section `cassandra`: { keyspaces: [{ name, region?, tables: [{ name, encryption?, status? }] }] }.
  // Seeded tables bind to their keys (two grants each) exactly like created ones.
  function applySeed(section: unknown): void {
    if (section === null || typeof section !== 'object' || Array.isArray(section))
      throw new Error('seed: cassandra must be a mapping with a keyspaces list');
    const keyspaces = (section as JsonObject)['keyspaces'];
    if (keyspaces === undefined) return;
    if (!Array.isArray(keyspaces)) throw new Error('seed: cassandra.keyspaces must be a list');
    const now = world.clock.now();
    for (const raw of keyspaces as JsonObject[]) {
      const name = String(raw['name'] ?? '');
      if (!namePattern.test(name)) throw new Error(`seed: invalid keyspace name ${JSON.stringify(name)}`);
      const region = typeof raw['region'] === 'string' ? raw['region'] : world.config.defaultRegion;
      const accountId = typeof raw['accountId'] === 'string' ? raw['accountId'] : world.config.accountId;
      const scope = scopeOf(accountId, region);
      const ks = scope.keyspaces.get(name) ?? addKeyspace(scope, name);
      for (const tr of (raw['tables'] as JsonObject[] | undefined) ?? []) seedTable(ks, tr, now);
    }
  }

  function seedTable(ks: Keyspace, raw: JsonObject, now: number): void {
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
    const seedable: readonly string[] = [
      'ACTIVE',
      'CREATING',
      'UPDATING',
      'DELETING',
      'INACCESSIBLE_ENCRYPTION_CREDENTIALS',
    ];
    if (requested !== undefined && !seedable.includes(requested))
      throw new Error(`seed: table ${ks.name}.${name}: unsupported status ${String(requested)}`);
    const t = newTable(ks, name, now, { schema, encryption });
    if (encryption.kmsKeyIdentifier) {
      const key = world.kms.findKey(encryption.kmsKeyIdentifier, ks.scope.region, ks.scope.accountId);
      if (!key)
        throw new Error(`seed: table ${ks.name}.${name}: KMS key ${encryption.kmsKeyIdentifier} not found`);
      t.grants = createGrants(key, t);
    }
    attachTable(t);
    const status = requested ?? (keyUsable(t) ? 'ACTIVE' : 'INACCESSIBLE_ENCRYPTION_CREDENTIALS');
    switch (status) {
      case 'INACCESSIBLE_ENCRYPTION_CREDENTIALS':
        markInaccessible(t, now);
        break;
      case 'CREATING':
        setStatus(t, status);
        scheduleCreated(t, now);
        break;
      case 'UPDATING':
        setStatus(t, status);
        scheduleUpdated(t, now);
        break;
      case 'DELETING':
        beginDelete(t, now);
        break;
      default:
        setStatus(t, 'ACTIVE');
    }
  }
}
