// `kubectl cmk import`, the pure half: from what the discovery read in AWS (import-discovery.ts) to
// the manifests that adopt it, and what was left out and why. No I/O.
//
// Guarantees:
// - Applying the output changes nothing in AWS: every object is in Observe mode unless the caller
//   asks for Enforce; a KmsKey adopts its key by ARN with deletionPolicy Retain; a workload has
//   deletionPolicy Orphan. A workload's spec says what AWS reports (its key, an EMR Serverless
//   encryption context), so the operator finds no drift to report.
// - Names are DNS labels, unique per kind and deterministic (import-names.ts): a KmsKey is named
//   after its key's first alias, else key-<key id>; a workload after its resource.
// - Never imported, each with its reason: a resource another object or cluster claims (the
//   cmk.io/owner tag the operator writes, src/reconcile/workload-plan.ts ownerTag), one being
//   deleted, one whose key is missing, unreadable or not customer managed, and one whose AWS answer
//   the CRD cannot hold (checked with the CRD's own rules, read from src/api/workloads.ts).

import type { TSchema } from 'typebox';
import { apiVersion, type Mode } from '../api/shared.ts';
import { EmrServerlessApplicationSpec, FlinkApplicationSpec, KeyspacesTableSpec } from '../api/workloads.ts';
import type { WorkloadId, WorkloadService, WorkloadState } from '../aws/workload.ts';
import type { KeyFacts } from '../keys/key-facts.ts';
import { ownerTag } from '../reconcile/workload-plan.ts';
import { uniqueNames, type WantedName, wantedName } from './import-names.ts';

export type ImportKind = 'FlinkApplication' | 'KeyspacesTable' | 'EmrServerlessApplication';

export const kindOfService: Readonly<Record<WorkloadService, ImportKind>> = {
  ManagedFlink: 'FlinkApplication',
  Keyspaces: 'KeyspacesTable',
  EmrServerless: 'EmrServerlessApplication',
};

/** One workload resource as the operator's own adapter read it. */
export interface FoundWorkload {
  id: WorkloadId;
  /** A name AWS lists besides the id (an EMR Serverless application's name). */
  label?: string;
  state: WorkloadState;
}

/** A key as DescribeKey (and ListAliases) answered for one reference a resource names. */
export type KeyLookup =
  | { kind: 'found'; facts: KeyFacts; aliases: string[] }
  | { kind: 'notFound' }
  | { kind: 'error'; reason: string };

/** Something that could not be read: a listing, or one resource. */
export interface Unreadable {
  kind?: ImportKind;
  resource: string;
  reason: string;
}

export interface Discovery {
  workloads: FoundWorkload[];
  /** By the key reference as the resources name it (an ARN, or whatever EMR Serverless stored). */
  keys: ReadonlyMap<string, KeyLookup>;
  unreadable: Unreadable[];
  /** AWS calls made. */
  calls: number;
}

export interface ImportOptions {
  region: string;
  mode: Mode;
  roleArn?: string;
  namespace?: string;
}

export interface Manifest {
  apiVersion: string;
  kind: 'KmsKey' | ImportKind;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

export interface ImportedObject {
  manifest: Manifest;
  /** One line on where it came from, written above the manifest. */
  comment: string;
}

export type SkipWhy = 'claimed' | 'deleting' | 'unreadable' | 'unsupported';

export interface Skipped {
  kind?: ImportKind;
  resource: string;
  why: SkipWhy;
  reason: string;
}

export interface ImportedKey {
  name: string;
  arn: string;
  state: string;
  aliases: string[];
  users: number;
}

export interface ImportResult {
  /** KmsKeys first, then the workloads by kind; by name within a kind. */
  objects: ImportedObject[];
  keys: ImportedKey[];
  skipped: Skipped[];
}

// ---- what the CRDs accept ----------------------------------------------------------------------

/** A string field's rule as the CRD states it: `self.matches('<re>')` and maxLength. */
function crdStringRule(spec: TSchema, field: string): { pattern: RegExp; maxLength: number } {
  const node = (spec as { properties: Record<string, Record<string, unknown>> }).properties[field];
  const rules = (node?.['x-kubernetes-validations'] ?? []) as Array<{ rule: string }>;
  const m = rules.map((r) => /^self\.matches\('(.+)'\)$/.exec(r.rule)).find((x) => x);
  const maxLength = node?.['maxLength'];
  if (!m || typeof maxLength !== 'number') throw new Error(`the CRD declares no pattern for ${field}`);
  return { pattern: new RegExp(m[1]!), maxLength };
}

const identityRules: Record<string, { pattern: RegExp; maxLength: number }> = {
  applicationName: crdStringRule(FlinkApplicationSpec, 'applicationName'),
  keyspaceName: crdStringRule(KeyspacesTableSpec, 'keyspaceName'),
  tableName: crdStringRule(KeyspacesTableSpec, 'tableName'),
  applicationId: crdStringRule(EmrServerlessApplicationSpec, 'applicationId'),
};

/** spec.encryptionContext's bounds as the CRD states them. */
const contextRule = (
  EmrServerlessApplicationSpec as unknown as {
    properties: { encryptionContext: { maxProperties: number; additionalProperties: { maxLength: number } } };
  }
).properties.encryptionContext;

/** The spec fields naming the resource, or why the CRD cannot hold them. */
export function identityFields(id: WorkloadId): Record<string, string> | string {
  const fields: Record<string, string> =
    id.service === 'ManagedFlink'
      ? { applicationName: id.applicationName }
      : id.service === 'Keyspaces'
        ? { keyspaceName: id.keyspaceName, tableName: id.tableName }
        : { applicationId: id.applicationId };
  for (const [field, value] of Object.entries(fields)) {
    const rule = identityRules[field]!;
    if (value.length === 0 || value.length > rule.maxLength || !rule.pattern.test(value))
      return `AWS answered ${field} ${JSON.stringify(value)}, which spec.${field} cannot hold (${rule.pattern.source}, at most ${rule.maxLength})`;
  }
  return fields;
}

/** An EMR Serverless encryption context as spec.encryptionContext, or why it does not fit. */
export function encryptionContextField(context: Record<string, string>): Record<string, string> | string {
  const entries = Object.entries(context);
  if (entries.length > contextRule.maxProperties)
    return `its encryption context has ${entries.length} pairs; spec.encryptionContext holds at most ${contextRule.maxProperties}`;
  const long = entries.find(([, v]) => v.length > contextRule.additionalProperties.maxLength);
  if (long)
    return `its encryption context value for ${long[0]} is longer than spec.encryptionContext takes (${contextRule.additionalProperties.maxLength})`;
  return context;
}

// ---- the import --------------------------------------------------------------------------------

/** How a report names a resource: the application name, keyspace.table, or id (name). */
export function resourceName(w: { id: WorkloadId; label?: string }): string {
  const id = w.id;
  if (id.service === 'ManagedFlink') return id.applicationName;
  if (id.service === 'Keyspaces') return `${id.keyspaceName}.${id.tableName}`;
  return w.label ? `${id.applicationId} (${w.label})` : id.applicationId;
}

/**
 * The name an object for the resource would like, before uniqueness. A table's is keyspace-table:
 * neither name can hold a dash, so two tables both named exactly so never meet.
 */
function preferredName(w: FoundWorkload): WantedName {
  const id = w.id;
  if (id.service === 'ManagedFlink') return wantedName(id.applicationName, 'flink-app');
  if (id.service === 'Keyspaces') return wantedName(`${id.keyspaceName}-${id.tableName}`, 'table');
  return wantedName(w.label ?? id.applicationId, 'emr-app');
}

const identityOf = (w: FoundWorkload) => `${kindOfService[w.id.service]}/${resourceName({ id: w.id })}`;

/** States in which AWS is deleting the resource (MSF-021, KS-023, EMR-010): nothing to adopt. */
const deletingStates: ReadonlySet<string> = new Set(['DELETING', 'DELETED', 'TERMINATED']);

interface Accepted {
  w: FoundWorkload;
  fields: Record<string, string>;
  key: { awsOwned: true } | { keyArn: string };
  encryptionContext?: Record<string, string>;
}

/** Why the resource is not imported, or what its object holds. */
function accept(
  w: FoundWorkload,
  keys: ReadonlyMap<string, KeyLookup>,
): Accepted | Omit<Skipped, 'resource'> {
  const kind = kindOfService[w.id.service];
  const owner = w.state.tags[ownerTag];
  if (owner !== undefined)
    return { kind, why: 'claimed', reason: `claimed by ${owner || '(empty)'} (tag ${ownerTag})` };
  if (deletingStates.has(w.state.awsState))
    return { kind, why: 'deleting', reason: `AWS reports it ${w.state.awsState}` };
  const fields = identityFields(w.id);
  if (typeof fields === 'string') return { kind, why: 'unsupported', reason: fields };
  const enc = w.state.encryption;
  if (enc.type === 'AwsOwned') return { w, fields, key: { awsOwned: true } };
  if (!enc.keyArn)
    return { kind, why: 'unsupported', reason: 'AWS reports a customer managed key without naming it' };
  const lookup = keys.get(enc.keyArn);
  if (!lookup) return { kind, why: 'unreadable', reason: `its key ${enc.keyArn} was not read` };
  if (lookup.kind === 'notFound')
    return {
      kind,
      why: 'unreadable',
      reason: `its key ${enc.keyArn} does not exist (deleted, or not visible to these credentials)`,
    };
  if (lookup.kind === 'error')
    return { kind, why: 'unreadable', reason: `its key ${enc.keyArn} could not be read: ${lookup.reason}` };
  if (lookup.facts.keyManager !== 'CUSTOMER')
    return {
      kind,
      why: 'unsupported',
      reason: `its key ${lookup.facts.arn} is ${lookup.facts.keyManager === 'AWS' ? 'an AWS managed key' : `managed by ${lookup.facts.keyManager}`}; the operator manages customer managed keys only`,
    };
  let encryptionContext: Record<string, string> | undefined;
  if (enc.encryptionContext && Object.keys(enc.encryptionContext).length > 0) {
    const context = encryptionContextField(enc.encryptionContext);
    if (typeof context === 'string') return { kind, why: 'unsupported', reason: context };
    encryptionContext = context;
  }
  return {
    w,
    fields,
    key: { keyArn: lookup.facts.arn },
    ...(encryptionContext ? { encryptionContext } : {}),
  };
}

/** The KmsKey name a key would like: its first alias (in byte order), else key-<key id>. */
function preferredKeyName(facts: KeyFacts, aliases: string[]): WantedName {
  const alias = [...aliases].sort().find((a) => a.startsWith('alias/') && !a.startsWith('alias/aws/'));
  return alias
    ? wantedName(alias.slice('alias/'.length), `key-${facts.keyId}`)
    : wantedName(`key-${facts.keyId}`, 'key');
}

const kindOrder: Record<Manifest['kind'], number> = {
  KmsKey: 0,
  FlinkApplication: 1,
  KeyspacesTable: 2,
  EmrServerlessApplication: 3,
};

/** The manifests adopting what `d` found, and what was left out and why. */
export function buildImport(d: Discovery, o: ImportOptions): ImportResult {
  const skipped: Skipped[] = d.unreadable.map((u) => ({ ...u, why: 'unreadable' }));
  const accepted: Accepted[] = [];
  for (const w of d.workloads) {
    const verdict = accept(w, d.keys);
    if ('w' in verdict) accepted.push(verdict);
    else skipped.push({ ...verdict, resource: resourceName(w) });
  }

  // KmsKeys: one per customer managed key the imported workloads use.
  const keyFacts = new Map<string, { facts: KeyFacts; aliases: string[] }>();
  for (const lookup of d.keys.values()) if (lookup.kind === 'found') keyFacts.set(lookup.facts.arn, lookup);
  const users = new Map<string, number>();
  for (const a of accepted)
    if ('keyArn' in a.key) users.set(a.key.keyArn, (users.get(a.key.keyArn) ?? 0) + 1);
  const keyNames = uniqueNames(
    new Map(
      [...users.keys()].map((arn) => {
        const k = keyFacts.get(arn)!;
        return [arn, preferredKeyName(k.facts, k.aliases)];
      }),
    ),
  );

  const metadata = (name: string) => ({ name, ...(o.namespace ? { namespace: o.namespace } : {}) });
  const target = { region: o.region, ...(o.roleArn ? { roleArn: o.roleArn } : {}) };
  const objects: ImportedObject[] = [];
  const keys: ImportedKey[] = [];
  for (const [arn, name] of keyNames) {
    const { facts, aliases } = keyFacts.get(arn)!;
    const count = users.get(arn) ?? 0;
    keys.push({ name, arn, state: facts.state, aliases: [...aliases].sort(), users: count });
    objects.push({
      manifest: {
        apiVersion,
        kind: 'KmsKey',
        metadata: metadata(name),
        spec: {
          keyId: arn,
          // The key's own Region: a key ARN from elsewhere is read there.
          region: facts.region,
          ...(o.roleArn ? { roleArn: o.roleArn } : {}),
          mode: o.mode,
          deletionPolicy: 'Retain',
        },
      },
      // Nothing here depends on the other resources: a later run that finds more changes no document.
      comment: `${arn}: ${facts.state}${aliases.length > 0 ? `, ${[...aliases].sort().join(', ')}` : ''}`,
    });
  }

  for (const kind of ['FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'] as const) {
    const ofKind = accepted.filter((a) => kindOfService[a.w.id.service] === kind);
    const names = uniqueNames(new Map(ofKind.map((a) => [identityOf(a.w), preferredName(a.w)])));
    for (const a of ofKind) {
      const s = a.w.state;
      const key = 'keyArn' in a.key ? { kmsKeyRef: { name: keyNames.get(a.key.keyArn)! } } : a.key;
      objects.push({
        manifest: {
          apiVersion,
          kind,
          metadata: metadata(names.get(identityOf(a.w))!),
          spec: {
            ...a.fields,
            ...target,
            key,
            ...(a.encryptionContext ? { encryptionContext: a.encryptionContext } : {}),
            mode: o.mode,
            deletionPolicy: 'Orphan',
          },
        },
        comment: `${s.resourceArn || resourceName(a.w)}: ${s.awsState}, ${'keyArn' in a.key ? a.key.keyArn : 'AWS owned key'}`,
      });
    }
  }
  objects.sort(
    (x, y) =>
      kindOrder[x.manifest.kind] - kindOrder[y.manifest.kind] ||
      (x.manifest.metadata.name < y.manifest.metadata.name ? -1 : 1),
  );
  keys.sort((x, y) => (x.name < y.name ? -1 : 1));
  skipped.sort((x, y) =>
    `${x.why}/${x.kind ?? ''}/${x.resource}` < `${y.why}/${y.kind ?? ''}/${y.resource}` ? -1 : 1,
  );
  return { objects, keys, skipped };
}

/** The file an object is written to with --out: `<kind>-<name>.yaml`, lowercase. */
export function fileNameOf(m: Manifest): string {
  return `${m.kind.toLowerCase()}-${m.metadata.name}.yaml`;
}

/** Whether the import left something out that a person must look at (claimed and deleting do not count). */
export function incomplete(result: ImportResult): boolean {
  return result.skipped.some((s) => s.why === 'unreadable' || s.why === 'unsupported');
}
