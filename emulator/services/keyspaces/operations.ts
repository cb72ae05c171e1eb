// Keyspaces request handlers: validate the input (ValidationException naming the member), apply the
// rules, change the store and start the table's transition on the timeline.

import { epochSeconds } from '../../core/protocol.ts';
import type { CallContext, JsonHandler, JsonObject } from '../../core/service.ts';
import type { TableLifecycle } from './lifecycle.ts';
import {
  conflict,
  ddlLimit,
  decodeToken,
  encodeToken,
  knownCqlType,
  list,
  maxTags,
  namePattern,
  page,
  parseCapacity,
  parseEncryption,
  parseTags,
  quotaExceeded,
  sameEncryption,
  updateSettings,
  updateSettingsProblem,
  v,
  validateSchema,
  validation,
} from './rules.ts';
import type { Keyspace, KeyspacesStore, Table } from './state.ts';

export function describeTable(t: Table): JsonObject {
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
        ? { lastUpdateToPayPerRequestTimestamp: epochSeconds(t.capacity.lastUpdateToPayPerRequestTimestamp) }
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

function describeKeyspace(ks: Keyspace): JsonObject {
  return {
    keyspaceName: ks.name,
    resourceArn: ks.arn,
    replicationStrategy: ks.replicationStrategy,
    ...(ks.replicationStrategy === 'MULTI_REGION' ? { replicationRegions: ks.replicationRegions } : {}),
  };
}

function refuseSystem(ks: Keyspace): void {
  if (ks.system) throw validation(`Keyspace ${ks.name} is a system keyspace and cannot be modified`);
}

const optionalCapacity = (input: JsonObject) => {
  const capacityRaw = v.optObject(input, 'capacitySpecification');
  return capacityRaw ? parseCapacity(capacityRaw) : undefined;
};

/** The point-in-time recovery, TTL and default TTL settings CreateTable and UpdateTable share. */
function parseStatusSettings(input: JsonObject) {
  const pitrRaw = v.optObject(input, 'pointInTimeRecovery');
  const pitr = pitrRaw ? v.enumOf(pitrRaw, 'status', ['ENABLED', 'DISABLED'] as const) : undefined;
  const ttlRaw = v.optObject(input, 'ttl');
  const ttl = ttlRaw ? v.enumOf(ttlRaw, 'status', ['ENABLED'] as const) : undefined;
  const defaultTimeToLive = v.optInt(input, 'defaultTimeToLive', { min: 0, max: 630_720_000 });
  return { pitr, ttl, defaultTimeToLive };
}

const clientSideTimestamps = (input: JsonObject) => {
  const cstRaw = v.optObject(input, 'clientSideTimestamps');
  return cstRaw ? v.enumOf(cstRaw, 'status', ['ENABLED'] as const) : undefined;
};

const pitrFor = (pitr: 'ENABLED' | 'DISABLED', now: number): Table['pitr'] =>
  pitr === 'ENABLED' ? { status: pitr, earliestRestorableTimestamp: now } : { status: pitr };

const keyspaceNameInput = (input: JsonObject) => v.str(input, 'keyspaceName', { min: 1, max: 48 });
const tableNameInput = (input: JsonObject) => v.str(input, 'tableName', { min: 1, max: 48 });

export function keyspacesOperations(
  store: KeyspacesStore,
  life: TableLifecycle,
): Record<string, JsonHandler> {
  /** KS-023: at most 50 DDL operations in flight per account and Region. */
  function checkDdlQuota(ctx: CallContext): void {
    if (store.scopeOf(ctx.accountId, ctx.region).ddlInFlight >= ddlLimit)
      throw quotaExceeded(
        `The number of concurrent DDL operations in ${ctx.region} exceeds the quota of ${ddlLimit}. Retry once some CREATING, UPDATING or DELETING tables have finished`,
      );
  }

  return {
    CreateKeyspace(ctx, input) {
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
      const scope = store.scopeOf(ctx.accountId, ctx.region);
      if (scope.keyspaces.has(name)) throw conflict(`Keyspace ${name} already exists`);
      const ks = store.addKeyspace(scope, name);
      ks.replicationStrategy = strategy;
      ks.replicationRegions = regions;
      for (const [k, val] of tags) ks.tags.set(k, val);
      return { resourceArn: ks.arn };
    },

    GetKeyspace(ctx, input) {
      return describeKeyspace(store.keyspaceFor(ctx, keyspaceNameInput(input)));
    },

    ListKeyspaces(ctx, input) {
      const scope = store.scopeOf(ctx.accountId, ctx.region);
      const { slice, nextToken } = page(scope.names, input, 100);
      return {
        keyspaces: slice.map((name) => describeKeyspace(scope.keyspaces.get(name)!)),
        ...(nextToken ? { nextToken } : {}),
      };
    },

    DeleteKeyspace(ctx, input) {
      const ks = store.keyspaceFor(ctx, keyspaceNameInput(input));
      refuseSystem(ks);
      const busy = [...ks.tables.values()].find((t) => t.status === 'CREATING' || t.status === 'UPDATING');
      if (busy)
        throw conflict(`Keyspace ${ks.name} cannot be deleted while table ${busy.name} is ${busy.status}`);
      checkDdlQuota(ctx);
      // Dropping a keyspace drops its tables, each through the normal deletion path (grants included).
      for (const t of ks.tables.values()) {
        if (t.status === 'ACTIVE' || t.status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS')
          life.beginDelete(t, ctx.now);
      }
      store.removeKeyspace(ks);
      return {};
    },

    CreateTable(ctx, input) {
      const ksName = v.str(input, 'keyspaceName', { min: 1, max: 48, pattern: namePattern });
      const name = v.str(input, 'tableName', { min: 1, max: 48, pattern: namePattern });
      const schema = validateSchema(v.object(input, 'schemaDefinition'));
      const capacity = optionalCapacity(input);
      const encRaw = v.optObject(input, 'encryptionSpecification');
      const encryption = encRaw ? parseEncryption(encRaw) : undefined;
      const { pitr, ttl, defaultTimeToLive } = parseStatusSettings(input);
      const commentRaw = v.optObject(input, 'comment');
      const comment = commentRaw ? v.str(commentRaw, 'message', { max: 4096 }) : undefined;
      const cst = clientSideTimestamps(input);
      const tags = parseTags(input, 'tags');

      const ks = store.keyspaceFor(ctx, ksName);
      refuseSystem(ks);
      if (ks.tables.has(name)) throw conflict(`Table ${ksName}.${name} already exists`);
      checkDdlQuota(ctx);

      const t = store.newTable(ks, name, ctx.now, {
        schema,
        ...(capacity ? { capacity } : {}),
        ...(encryption ? { encryption } : {}),
        ...(pitr ? { pitr: pitrFor(pitr, ctx.now) } : {}),
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
        t.grants = life.createGrants(life.usableKey(ctx, t, t.encryption.kmsKeyIdentifier!), t);
      }
      store.setStatus(t, 'CREATING');
      store.attachTable(t);
      life.scheduleCreated(t, ctx.now);
      return { resourceArn: t.arn };
    },

    GetTable(ctx, input) {
      return describeTable(store.tableFor(ctx, keyspaceNameInput(input), tableNameInput(input)));
    },

    ListTables(ctx, input) {
      const ks = store.keyspaceFor(ctx, keyspaceNameInput(input));
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

    UpdateTable(ctx, input) {
      const ksName = keyspaceNameInput(input);
      const name = tableNameInput(input);
      const present = updateSettings.filter((s) => input[s] !== undefined && input[s] !== null);
      const settingsProblem = updateSettingsProblem(present);
      if (settingsProblem) throw validation(settingsProblem);

      // Validate the shape before looking the table up, as AWS request validation does.
      const encryption = input['encryptionSpecification']
        ? parseEncryption(v.object(input, 'encryptionSpecification'))
        : undefined;
      const capacity = optionalCapacity(input);
      const { pitr, ttl, defaultTimeToLive } = parseStatusSettings(input);
      const cst = clientSideTimestamps(input);
      const addColumns = list(input, 'addColumns');

      const t = store.tableFor(ctx, ksName, name);
      refuseSystem(t.keyspace);
      if (t.status !== 'ACTIVE')
        throw conflict(`Table ${ksName}.${name} is ${t.status}; it can only be updated when ACTIVE`);
      checkDdlQuota(ctx);

      if (encryption && !sameEncryption(encryption, t.encryption)) {
        // KS-007: the new key's grants are created now; the old key's retire when the update completes.
        const incoming =
          encryption.type === 'CUSTOMER_MANAGED_KMS_KEY'
            ? life.createGrants(life.usableKey(ctx, t, encryption.kmsKeyIdentifier!), t)
            : undefined;
        if (t.encryption.kmsKeyIdentifier) store.unbindKey(t, t.encryption.kmsKeyIdentifier);
        t.outgoingGrants = t.grants;
        t.grants = incoming;
        t.encryption = encryption;
        if (encryption.kmsKeyIdentifier) store.bindKey(t, encryption.kmsKeyIdentifier);
      }
      if (addColumns) {
        const columns = [...((t.schema['allColumns'] as JsonObject[]) ?? [])];
        const names = new Set(columns.map((c) => c['name']));
        for (const c of addColumns) {
          const colName = v.str(c, 'name', { min: 1, max: 48 });
          const type = v.str(c, 'type', { min: 1 });
          if (!knownCqlType(type)) throw validation(`Unknown type ${type} for column ${colName}`);
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
      if (pitr) t.pitr = pitrFor(pitr, ctx.now);
      if (ttl) t.ttl = ttl;
      if (defaultTimeToLive !== undefined) t.defaultTimeToLive = defaultTimeToLive;
      if (cst) t.clientSideTimestamps = cst;
      if (input['cdcSpecification']) t.cdc = v.object(input, 'cdcSpecification');
      if (input['autoScalingSpecification']) t.autoScaling = v.object(input, 'autoScalingSpecification');
      if (input['warmThroughputSpecification'])
        t.warmThroughput = v.object(input, 'warmThroughputSpecification');
      if (Array.isArray(input['replicaSpecifications']))
        t.replicaSpecifications = input['replicaSpecifications'] as unknown[];

      store.setStatus(t, 'UPDATING');
      life.scheduleUpdated(t, ctx.now);
      return { resourceArn: t.arn };
    },

    DeleteTable(ctx, input) {
      const t = store.tableFor(ctx, keyspaceNameInput(input), tableNameInput(input));
      refuseSystem(t.keyspace);
      if (t.status !== 'ACTIVE' && t.status !== 'INACCESSIBLE_ENCRYPTION_CREDENTIALS')
        throw conflict(`Table ${t.keyspace.name}.${t.name} is ${t.status} and cannot be deleted now`);
      checkDdlQuota(ctx);
      life.beginDelete(t, ctx.now);
      return {};
    },

    TagResource(ctx, input) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const tags = parseTags(input, 'tags');
      if (tags.length === 0) throw validation('tags must contain at least one tag');
      const r = store.resourceFor(ctx, arn);
      const merged = new Map(r.tags);
      for (const [k, val] of tags) merged.set(k, val);
      if (merged.size > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
      r.tags = merged;
      return {};
    },

    UntagResource(ctx, input) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const tags = list(input, 'tags') ?? [];
      if (tags.length === 0) throw validation('tags must contain at least one tag');
      const r = store.resourceFor(ctx, arn);
      for (const t of tags) r.tags.delete(v.str(t, 'key', { min: 1, max: 128 }));
      return {};
    },

    ListTagsForResource(ctx, input) {
      const arn = v.str(input, 'resourceArn', { min: 20, max: 1000 });
      const max = v.optInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
      const token = v.optStr(input, 'nextToken', { min: 1 });
      const start = token === undefined ? 0 : Number(decodeToken(token));
      if (!Number.isInteger(start) || start < 0) throw validation('The nextToken is not valid');
      const all = [...store.resourceFor(ctx, arn).tags].map(([key, value]) => ({ key, value }));
      const slice = all.slice(start, start + max);
      return {
        tags: slice,
        ...(start + max < all.length ? { nextToken: encodeToken(String(start + max)) } : {}),
      };
    },
  };
}
