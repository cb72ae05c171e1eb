// Keyspaces data model and store: keyspaces and tables per account and Region (with the system
// keyspaces AWS lists everywhere), the DDL-in-flight count per scope (KS-023), and the index of which
// tables use which key. Status changes go through setStatus so the DDL count stays right.

import type { ScheduledEvent } from '../../core/clock.ts';
import { indexAdd, indexRemove, insertSorted, removeSorted } from '../../core/collections.ts';
import { seededRandom } from '../../core/random.ts';
import type { CallContext, JsonObject } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { ddlStates, notFound, systemKeyspaces, validation } from './rules.ts';

export type TableStatus =
  | 'ACTIVE'
  | 'CREATING'
  | 'UPDATING'
  | 'DELETING'
  | 'DELETED'
  | 'RESTORING'
  | 'INACCESSIBLE_ENCRYPTION_CREDENTIALS';

export type EncryptionType = 'AWS_OWNED_KMS_KEY' | 'CUSTOMER_MANAGED_KMS_KEY';

export interface EncryptionSpec {
  type: EncryptionType;
  kmsKeyIdentifier?: string;
}

export interface TableGrants {
  keyArn: string;
  /** Retired at deletion. */
  tableGrantId: string;
  /** Protects the automatic backup; retired 42 days after deletion (KS-015). */
  backupGrantId: string;
}

export interface Scope {
  accountId: string;
  region: string;
  keyspaces: Map<string, Keyspace>;
  /** Keyspace names, sorted, for stable pagination. */
  names: string[];
  /** Tables in CREATING/UPDATING/DELETING: the DDL concurrency quota. */
  ddlInFlight: number;
}

export interface Keyspace {
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

export interface Table {
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

export const keyspaceArn = (region: string, accountId: string, name: string) =>
  `arn:aws:cassandra:${region}:${accountId}:/keyspace/${name}/`;
export const tableArn = (region: string, accountId: string, ks: string, t: string) =>
  `arn:aws:cassandra:${region}:${accountId}:/keyspace/${ks}/table/${t}`;

/** The encryption-context view of a table (KS-012). */
export const tableContext = (t: { keyspace: Keyspace; name: string }) => ({
  keyspaceName: t.keyspace.name,
  name: t.name,
  accountId: t.keyspace.scope.accountId,
});

export interface KeyspacesStore {
  readonly scopes: Map<string, Scope>;
  /** The scope of an account and Region, created (with its system keyspaces) on first use. */
  scopeOf(accountId: string, region: string): Scope;
  addKeyspace(scope: Scope, name: string, system?: boolean): Keyspace;
  removeKeyspace(ks: Keyspace): void;
  keyspaceFor(ctx: CallContext, name: string): Keyspace;
  tableFor(ctx: CallContext, ksName: string, name: string): Table;
  /** The keyspace or table an ARN names (for tagging), or the AWS error. */
  resourceFor(ctx: CallContext, arn: string): { tags: Map<string, string> };
  /** Moves a table to `status`, keeping the DDL-in-flight count. */
  setStatus(t: Table, status: TableStatus): void;
  /** Tables bound to a key ARN. */
  tablesOn(keyArn: string): Set<Table> | undefined;
  bindKey(t: Table, keyArn: string): void;
  unbindKey(t: Table, keyArn: string): void;
  newTable(ks: Keyspace, name: string, at: number, fields: Partial<Table> & Pick<Table, 'schema'>): Table;
  attachTable(t: Table): void;
  removeTable(t: Table): void;
}

export function createKeyspacesStore(world: World): KeyspacesStore {
  const ids = seededRandom(world.config.seed ^ 0xca55a);
  const scopes = new Map<string, Scope>();
  /** Tables bound to each key ARN, so a key change touches only its own tables. */
  const tablesByKey = new Map<string, Set<Table>>();

  const uid = () => Array.from({ length: 16 }, () => ids.int(0, 15).toString(16)).join('');

  const store: KeyspacesStore = {
    scopes,

    scopeOf(accountId, region) {
      const id = `${accountId}/${region}`;
      let s = scopes.get(id);
      if (!s) {
        s = { accountId, region, keyspaces: new Map(), names: [], ddlInFlight: 0 };
        scopes.set(id, s);
        for (const name of systemKeyspaces) store.addKeyspace(s, name, true);
      }
      return s;
    },

    addKeyspace(scope, name, system = false) {
      const ks: Keyspace = {
        scope,
        name,
        arn: keyspaceArn(scope.region, scope.accountId, name),
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
    },

    removeKeyspace(ks) {
      ks.scope.keyspaces.delete(ks.name);
      removeSorted(ks.scope.names, ks.name);
    },

    keyspaceFor(ctx, name) {
      const ks = store.scopeOf(ctx.accountId, ctx.region).keyspaces.get(name);
      if (!ks)
        throw notFound(`Keyspace ${name} does not exist`, keyspaceArn(ctx.region, ctx.accountId, name));
      return ks;
    },

    tableFor(ctx, ksName, name) {
      const ks = store.keyspaceFor(ctx, ksName);
      const t = ks.tables.get(name);
      if (!t)
        throw notFound(
          `Table ${ksName}.${name} does not exist`,
          tableArn(ctx.region, ctx.accountId, ksName, name),
        );
      return t;
    },

    resourceFor(ctx, arn) {
      const m =
        /^arn:aws[a-z-]*:cassandra:([a-z0-9-]+):(\d{12}):\/keyspace\/([^/]+)\/?(?:table\/([^/]+))?$/.exec(
          arn,
        );
      if (!m) throw validation(`Invalid resourceArn ${arn}`);
      const [, region, account, ksName, tableName] = m;
      const ks = store.scopeOf(account!, region!).keyspaces.get(ksName!);
      const missing = () => notFound(`The resource ${arn} does not exist`, arn);
      if (!ks || account !== ctx.accountId) throw missing();
      if (tableName === undefined) {
        if (ks.system) throw validation(`System keyspace ${ks.name} cannot be tagged`);
        return ks;
      }
      const t = ks.tables.get(tableName);
      if (!t) throw missing();
      return t;
    },

    setStatus(t, status) {
      const was = ddlStates.has(t.status);
      const is = ddlStates.has(status);
      if (was !== is) t.keyspace.scope.ddlInFlight += is ? 1 : -1;
      t.status = status;
    },

    tablesOn: (keyArn) => tablesByKey.get(keyArn),
    bindKey: (t, keyArn) => indexAdd(tablesByKey, keyArn, t),
    unbindKey: (t, keyArn) => indexRemove(tablesByKey, keyArn, t),

    newTable(ks, name, at, fields) {
      return {
        uid: uid(),
        keyspace: ks,
        name,
        arn: tableArn(ks.scope.region, ks.scope.accountId, ks.name, name),
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
    },

    attachTable(t) {
      t.keyspace.tables.set(t.name, t);
      insertSorted(t.keyspace.tableNames, t.name);
      if (t.encryption.kmsKeyIdentifier) store.bindKey(t, t.encryption.kmsKeyIdentifier);
    },

    removeTable(t) {
      store.setStatus(t, 'DELETED');
      if (t.keyspace.tables.get(t.name) === t) {
        t.keyspace.tables.delete(t.name);
        removeSorted(t.keyspace.tableNames, t.name);
      }
      if (t.encryption.kmsKeyIdentifier) store.unbindKey(t, t.encryption.kmsKeyIdentifier);
    },
  };
  return store;
}
