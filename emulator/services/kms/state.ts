// KMS data model and store: keys per account and Region (with their policy, aliases, grants, key
// material and rotation history), aliases by name, grant tokens, and the listeners the workload
// services register for key changes. Mutations here keep the indexes consistent; what is allowed is
// decided in rules.ts and authorization.ts.

import { randomBytes } from 'node:crypto';
import type { ScheduledEvent } from '../../core/clock.ts';
import { indexAdd } from '../../core/collections.ts';
import { AwsError } from '../../core/protocol.ts';
import { seededRandom } from '../../core/random.ts';
import type { KeyView, World } from '../../core/world.ts';
import { type PolicyDocument, PolicyParseError, parseKeyPolicy } from '../../policy.ts';
import { defaultKeyPolicy, err } from './rules.ts';

export interface Grant {
  keyId: string;
  grantId: string;
  name?: string;
  granteePrincipal?: string;
  granteeServicePrincipal?: string;
  retiringPrincipal?: string;
  retiringServicePrincipal?: string;
  operations: string[];
  constraints?: {
    EncryptionContextSubset?: Record<string, string>;
    EncryptionContextEquals?: Record<string, string>;
    SourceArn?: string;
  };
  creationDate: number;
  issuingAccount: string;
}

export interface RotationEntry {
  materialId: string;
  date: number;
  type: 'AUTOMATIC' | 'ON_DEMAND';
}

export interface KeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  description: string;
  keyUsage: string;
  keySpec: string;
  origin: string;
  state: string;
  keyManager: 'CUSTOMER' | 'AWS';
  creationDate: number;
  multiRegion: boolean;
  policyText: string;
  policy: PolicyDocument;
  tags: Map<string, string>;
  aliases: Set<string>;
  grants: Map<string, Grant>;
  /** Grant ids by grantee principal and by name: authorization and Name idempotency stay O(1) at 50,000 grants. */
  grantsByGrantee: Map<string, Set<string>>;
  grantsByName: Map<string, Set<string>>;
  materials: Map<string, Buffer>;
  /** Empty while PendingImport (no material yet). */
  currentMaterialId: string;
  initialMaterialId: string;
  initialMaterialDate: number;
  rotation: {
    enabled: boolean;
    periodDays: number;
    /** When automatic rotation was (re)started; the base for a period change before the first rotation. */
    since: number;
    nextAt?: number;
    event?: ScheduledEvent;
    /** An automatic rotation fell due while the key could not rotate; EnableKey catches up. */
    missed: boolean;
  };
  onDemand?: { startedAt: number; event: ScheduledEvent };
  rotations: RotationEntry[];
  deletion?: { date: number; windowDays: number; event: ScheduledEvent };
}

export interface AliasRecord {
  name: string;
  arn: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

export interface NewKeyOptions {
  accountId: string;
  region: string;
  now: number;
  keyId?: string;
  description?: string;
  keyUsage?: string;
  keySpec?: string;
  origin?: string;
  policyText?: string;
  policy?: PolicyDocument;
  multiRegion?: boolean;
}

/** A resolved identifier: the key, whether it was named through an alias, or the error to answer. */
export type Lookup = { key?: KeyRecord; alias?: boolean; error?: AwsError };

export const scopeOf = (accountId: string, region: string) => `${accountId}/${region}`;

/** What other services see of a key (core/world.ts KeyView). */
export const view = (k: KeyRecord): KeyView => ({
  keyId: k.keyId,
  arn: k.arn,
  accountId: k.accountId,
  region: k.region,
  state: k.state,
  keySpec: k.keySpec,
  keyUsage: k.keyUsage,
  keyManager: k.keyManager,
  origin: k.origin,
  currentKeyMaterialId: k.currentMaterialId,
});

export function parsePolicyOrThrow(text: string): PolicyDocument {
  try {
    return parseKeyPolicy(text);
  } catch (e) {
    if (e instanceof PolicyParseError) throw err.malformedPolicy(e.message);
    throw e;
  }
}

export interface KmsStore {
  /** Keys by `<account>/<region>/<keyId>`. */
  readonly keys: Map<string, KeyRecord>;
  /** Aliases per account+Region by name. */
  readonly aliasesByScope: Map<string, Map<string, AliasRecord>>;
  readonly grantTokens: Map<string, { key: KeyRecord; grantId: string }>;
  /** `n` hex digits from the id stream (key material ids, grant ids). */
  hex(n: number): string;
  getKey(accountId: string, region: string, keyId: string): KeyRecord | undefined;
  /** Keys of one account and Region, in creation order (ListKeys). */
  keysIn(accountId: string, region: string): KeyRecord[];
  /** Alias names of one account and Region, sorted (ListAliases), cached until an alias changes. */
  sortedAliasNames(accountId: string, region: string): string[];
  aliasesChanged(scope: string): void;
  /** Resolves any identifier without deciding which kinds the operation accepts. */
  lookup(ref: string, region: string, accountId: string): Lookup;
  /** A key by ARN (in its own scope) or by bare key id, for the KmsAccess calls. */
  keyByRef(ref: string): KeyRecord | undefined;
  buildKey(o: NewKeyOptions): KeyRecord;
  insertKey(k: KeyRecord): void;
  /** Removes the key and its aliases, cancels its timers and tells the listeners. */
  deleteKey(k: KeyRecord): void;
  newMaterial(k: KeyRecord): string;
  addAlias(k: KeyRecord, name: string, now: number): void;
  /** KMS-013: stores a grant, LimitExceededException when the key is full. */
  storeGrant(k: KeyRecord, g: Grant): void;
  removeGrant(k: KeyRecord, grantId: string): void;
  issueToken(k: KeyRecord, grantId: string): string;
  onKeyChange(listener: (key: KeyView, deleted: boolean) => void): void;
  /** Tells the listeners that a key changed state, material or policy, or was deleted. */
  notify(k: KeyRecord, deleted?: boolean): void;
}

export function createKmsStore(world: World): KmsStore {
  // Ids come from their own seeded stream so that creating keys does not shift transition durations.
  const ids = seededRandom(world.config.seed ^ 0x6b6d73);
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += ids.int(0, 15).toString(16);
    return s;
  };
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[ids.int(0, 3)]}${hex(3)}-${hex(12)}`;

  const keys = new Map<string, KeyRecord>();
  const keysByScope = new Map<string, Map<string, KeyRecord>>();
  /** Keys by bare key id, for KmsAccess calls that pass only an id. */
  const byKeyId = new Map<string, KeyRecord>();
  const aliasesByScope = new Map<string, Map<string, AliasRecord>>();
  const sortedAliasNames = new Map<string, string[]>();
  const grantTokens = new Map<string, { key: KeyRecord; grantId: string }>();
  const listeners: Array<(key: KeyView, deleted: boolean) => void> = [];

  const scopeMap = <T>(m: Map<string, Map<string, T>>, scope: string): Map<string, T> => {
    let inner = m.get(scope);
    if (!inner) {
      inner = new Map();
      m.set(scope, inner);
    }
    return inner;
  };

  /** Parsed default policies are shared between keys (policies are never mutated in place). */
  const defaultPolicies = new Map<string, PolicyDocument>();
  function defaultPolicyDoc(accountId: string): PolicyDocument {
    let doc = defaultPolicies.get(accountId);
    if (!doc) {
      doc = parseKeyPolicy(defaultKeyPolicy(accountId));
      defaultPolicies.set(accountId, doc);
    }
    return doc;
  }

  const store: KmsStore = {
    keys,
    aliasesByScope,
    grantTokens,
    hex,
    getKey: (accountId, region, keyId) => keys.get(`${accountId}/${region}/${keyId}`),
    keysIn: (accountId, region) => [...(keysByScope.get(scopeOf(accountId, region))?.values() ?? [])],

    sortedAliasNames(accountId, region) {
      const scope = scopeOf(accountId, region);
      const names = sortedAliasNames.get(scope) ?? [...(aliasesByScope.get(scope)?.keys() ?? [])].sort();
      sortedAliasNames.set(scope, names);
      return names;
    },
    aliasesChanged: (scope) => sortedAliasNames.delete(scope),

    lookup(ref, region, accountId) {
      if (ref.startsWith('arn:')) {
        const parts = ref.split(':');
        const [, partition, svc, r, acct] = parts;
        const resource = parts.slice(5).join(':');
        if (
          parts.length < 6 ||
          !partition?.startsWith('aws') ||
          svc !== 'kms' ||
          !r ||
          !/^\d{12}$/.test(acct ?? '')
        )
          return { error: err.invalidArn(`Invalid arn ${ref}`) };
        if (r !== region) return { error: err.notFound(`Invalid arn ${ref}: the key is in another Region`) };
        if (resource.startsWith('key/')) {
          const key = keys.get(`${acct}/${r}/${resource.slice(4)}`);
          return key ? { key } : { error: err.notFound(`Key '${ref}' does not exist`) };
        }
        if (resource.startsWith('alias/')) {
          const alias = aliasesByScope.get(scopeOf(acct!, r))?.get(resource);
          const key = alias ? keys.get(`${acct}/${r}/${alias.targetKeyId}`) : undefined;
          return key
            ? { key, alias: true }
            : { alias: true, error: err.notFound(`Alias ${ref} is not found.`) };
        }
        return { error: err.invalidArn(`Invalid arn ${ref}`) };
      }
      if (ref.startsWith('alias/')) {
        const alias = aliasesByScope.get(scopeOf(accountId, region))?.get(ref);
        const key = alias ? keys.get(`${accountId}/${region}/${alias.targetKeyId}`) : undefined;
        return key
          ? { key, alias: true }
          : {
              alias: true,
              error: err.notFound(`Alias arn:aws:kms:${region}:${accountId}:${ref} is not found.`),
            };
      }
      const key = keys.get(`${accountId}/${region}/${ref}`);
      return key
        ? { key }
        : { error: err.notFound(`Key 'arn:aws:kms:${region}:${accountId}:key/${ref}' does not exist`) };
    },

    keyByRef(ref) {
      if (ref.startsWith('arn:')) {
        const [, , , region, account] = ref.split(':');
        return region && account ? store.lookup(ref, region, account).key : undefined;
      }
      return byKeyId.get(ref);
    },

    buildKey(o) {
      const multiRegion = o.multiRegion ?? false;
      const keyId = o.keyId ?? (multiRegion ? `mrk-${hex(32)}` : uuid());
      const origin = o.origin ?? 'AWS_KMS';
      const policyText = o.policyText ?? defaultKeyPolicy(o.accountId);
      const k: KeyRecord = {
        keyId,
        arn: `arn:aws:kms:${o.region}:${o.accountId}:key/${keyId}`,
        accountId: o.accountId,
        region: o.region,
        description: o.description ?? '',
        keyUsage: o.keyUsage ?? 'ENCRYPT_DECRYPT',
        keySpec: o.keySpec ?? 'SYMMETRIC_DEFAULT',
        origin,
        // KMS-003: imported-material keys start PendingImport, the others Enabled.
        state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
        keyManager: 'CUSTOMER',
        creationDate: o.now,
        multiRegion,
        policyText,
        policy:
          o.policy ??
          (o.policyText === undefined ? defaultPolicyDoc(o.accountId) : parsePolicyOrThrow(policyText)),
        tags: new Map(),
        aliases: new Set(),
        grants: new Map(),
        grantsByGrantee: new Map(),
        grantsByName: new Map(),
        materials: new Map(),
        currentMaterialId: '',
        initialMaterialId: '',
        initialMaterialDate: o.now,
        rotation: { enabled: false, periodDays: 365, since: o.now, missed: false },
        rotations: [],
      };
      if (origin !== 'EXTERNAL') {
        k.currentMaterialId = store.newMaterial(k);
        k.initialMaterialId = k.currentMaterialId;
      }
      return k;
    },

    insertKey(k) {
      keys.set(`${k.accountId}/${k.region}/${k.keyId}`, k);
      scopeMap(keysByScope, scopeOf(k.accountId, k.region)).set(k.keyId, k);
      byKeyId.set(k.keyId, k);
    },

    deleteKey(k) {
      keys.delete(`${k.accountId}/${k.region}/${k.keyId}`);
      keysByScope.get(scopeOf(k.accountId, k.region))?.delete(k.keyId);
      if (byKeyId.get(k.keyId) === k) byKeyId.delete(k.keyId);
      const scope = scopeOf(k.accountId, k.region);
      const scopeAliases = aliasesByScope.get(scope);
      for (const a of k.aliases) scopeAliases?.delete(a);
      if (k.aliases.size > 0) sortedAliasNames.delete(scope);
      k.aliases.clear();
      k.rotation.event?.cancel();
      k.onDemand?.event.cancel();
      k.grants.clear();
      k.grantsByGrantee.clear();
      k.grantsByName.clear();
      store.notify(k, true);
    },

    newMaterial(k) {
      const id = hex(64);
      k.materials.set(id, randomBytes(32));
      return id;
    },

    addAlias(k, name, now) {
      const scope = scopeOf(k.accountId, k.region);
      const inScope = scopeMap(aliasesByScope, scope);
      if (inScope.has(name))
        throw new AwsError(
          'AlreadyExistsException',
          `An alias with the name arn:aws:kms:${k.region}:${k.accountId}:${name} already exists`,
          409,
        );
      if (k.aliases.size >= world.config.aliasesPerKey)
        throw err.limit(
          `The key ${k.arn} already has ${k.aliases.size} aliases (the limit is ${world.config.aliasesPerKey}).`,
        );
      inScope.set(name, {
        name,
        arn: `arn:aws:kms:${k.region}:${k.accountId}:${name}`,
        targetKeyId: k.keyId,
        creationDate: now,
        lastUpdatedDate: now,
      });
      sortedAliasNames.delete(scope);
      k.aliases.add(name);
    },

    storeGrant(k, g) {
      if (k.grants.size >= world.config.grantsPerKey)
        throw err.limit(
          `The key ${k.arn} already has ${k.grants.size} grants (the limit is ${world.config.grantsPerKey}).`,
        );
      k.grants.set(g.grantId, g);
      if (g.granteePrincipal !== undefined) indexAdd(k.grantsByGrantee, g.granteePrincipal, g.grantId);
      if (g.name !== undefined) indexAdd(k.grantsByName, g.name, g.grantId);
    },

    removeGrant(k, grantId) {
      const g = k.grants.get(grantId);
      if (!g) return;
      k.grants.delete(grantId);
      if (g.granteePrincipal !== undefined) k.grantsByGrantee.get(g.granteePrincipal)?.delete(grantId);
      if (g.name !== undefined) k.grantsByName.get(g.name)?.delete(grantId);
    },

    issueToken(k, grantId) {
      const token = randomBytes(48).toString('base64url');
      grantTokens.set(token, { key: k, grantId });
      return token;
    },

    onKeyChange(listener) {
      listeners.push(listener);
    },

    notify(k, deleted = false) {
      const snapshot = view(k);
      for (const l of listeners) {
        try {
          l(snapshot, deleted);
        } catch (e) {
          process.stderr.write(`[emulator] kms onKeyChange listener failed: ${(e as Error)?.stack ?? e}\n`);
        }
      }
    },
  };
  return store;
}
