// Per-object metrics: which workload is off its key, which key is about to be deleted, how long a
// Keyspaces table has left. Read from the informer caches at scrape time, from the status the
// operator wrote, so a metric can never disagree with `kubectl get`.
//
// Guarantees:
// - Nothing in the reconcile path changes: the collector only reads the caches.
// - One series per object and metric (per condition for `cmk_object_condition`, per state or
//   source where named): an object deleted, or a status field that is gone, is gone from the next
//   scrape, because every family is rebuilt from the caches each time.
// - A malformed status (a date that is no date, a count that is no number) yields no sample for
//   that field; it never throws into the scrape.
// - Every replica reports the same values from its own cache: aggregate with
//   `max by (kind, namespace, name)` (docs/metrics.md).

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import { joinChunks, registerTextFamilies } from '../runtime/metrics.ts';
import type { KindCache } from '../runtime/wiring.ts';

export type ResourceMetric =
  | 'cmk_object_condition'
  | 'cmk_workload_on_desired_key'
  | 'cmk_workload_on_current_key_material'
  | 'cmk_keyspaces_table_deletion_timestamp_seconds'
  | 'cmk_kmskey_state'
  | 'cmk_kmskey_deletion_timestamp_seconds'
  | 'cmk_kmskey_users'
  | 'cmk_kmskey_grants'
  | 'cmk_kmskey_grants_limit'
  | 'cmk_kmskey_rotation_age_seconds'
  | 'cmk_kmskey_rotation_period_seconds'
  | 'cmk_kmskey_last_inventory_timestamp_seconds';

export interface Sample {
  metric: ResourceMetric;
  labels: Record<string, string>;
  value: number;
}

/** Help text and extra label names of each family (kind, namespace and name are on all). */
export const resourceMetricFamilies: Record<ResourceMetric, { help: string; labels: string[] }> = {
  cmk_object_condition: {
    help: 'Ready, Reconciling and Stalled of each cmk.io object: 1 for the status and reason its status shows',
    labels: ['condition', 'status', 'reason'],
  },
  cmk_workload_on_desired_key: {
    help: 'Workload on the key its spec asks for (1) or not (0), from its KeyCurrent condition; absent while Unknown',
    labels: [],
  },
  cmk_workload_on_current_key_material: {
    help: "Workload running on its key's current key material (1) or not, a restart pending (0), from MaterialCurrent; Managed Flink only",
    labels: [],
  },
  cmk_keyspaces_table_deletion_timestamp_seconds: {
    help: 'Keyspaces table that cannot reach its key: when AWS deletes it (status.deletionAfter), in seconds since the epoch',
    labels: [],
  },
  cmk_kmskey_state: {
    help: 'KMS key state of each KmsKey (status.keyState): 1 for the state it is in',
    labels: ['state'],
  },
  cmk_kmskey_deletion_timestamp_seconds: {
    help: 'Key scheduled for deletion: when AWS deletes it (status.deletionDate), in seconds since the epoch',
    labels: [],
  },
  cmk_kmskey_users: {
    help: 'Users of the key (status.usage): source kubernetes (objects), aws (what AWS shows at the last inventory pass), aws_unmanaged (of those, managed by no object)',
    labels: ['source'],
  },
  cmk_kmskey_grants: { help: 'Grants on the key (status.grants.count)', labels: [] },
  cmk_kmskey_grants_limit: { help: 'AWS grant quota per key (status.grants.limit)', labels: [] },
  cmk_kmskey_rotation_age_seconds: {
    help: 'Seconds since the newest rotation of the key material in status.rotation.recent, or since the KmsKey was created when none is listed',
    labels: [],
  },
  cmk_kmskey_rotation_period_seconds: {
    help: 'Automatic rotation period of the key, present only while automatic rotation is on',
    labels: [],
  },
  cmk_kmskey_last_inventory_timestamp_seconds: {
    help: "When the key usage inventory last scanned the key's Region (status.usage.lastInventoryTime)",
    labels: [],
  },
};

const kstatusConditions = new Set(['Ready', 'Reconciling', 'Stalled']);
/** AWS's automatic rotation period when none is set, also the delay before the first (KMS-007). */
const defaultRotationDays = 365;
const day = 86_400;

interface Condition {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
}

type Meta = { metadata: { namespace?: string; name?: string; creationTimestamp?: string } };

function identity(kind: string, o: Meta): Record<string, string> {
  return { kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name ?? '' };
}

/** Seconds since the epoch of an RFC 3339 date, or undefined for anything else. */
function epochSeconds(date: unknown): number | undefined {
  if (typeof date !== 'string') return undefined;
  const ms = Date.parse(date);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

function count(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

const noConditions: readonly unknown[] = [];

/** The status's conditions as stored (any element may be malformed: `isCondition` says). */
function conditionsOf(status: unknown): readonly unknown[] {
  const list = (status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(list) ? list : noConditions;
}

function isCondition(c: unknown): c is Condition {
  return typeof c === 'object' && c !== null;
}

/** 1 for True, 0 for False, undefined for Unknown or absent. */
function truth(conditions: readonly unknown[], type: string): number | undefined {
  for (const c of conditions)
    if (isCondition(c) && c.type === type)
      return c.status === 'True' ? 1 : c.status === 'False' ? 0 : undefined;
  return undefined;
}

/**
 * Where a sample goes: its value, and for `cmk_object_condition` the condition's type, status and
 * reason (the status and reason as served: Unknown and empty when absent).
 */
type Emit = (value: number, condition?: string, status?: string, reason?: string) => void;

/** The kstatus conditions of an object, each as one sample of `cmk_object_condition`. */
function eachCondition(conditions: readonly unknown[], emit: Emit): void {
  for (const c of conditions) {
    if (!isCondition(c) || typeof c.type !== 'string' || !kstatusConditions.has(c.type)) continue;
    emit(
      1,
      c.type,
      typeof c.status === 'string' ? c.status : 'Unknown',
      typeof c.reason === 'string' ? c.reason : '',
    );
  }
}

/** An `Emit` that appends `metric`'s samples, labelled `id` (and the condition's labels), to `samples`. */
function collectInto(samples: Sample[], metric: ResourceMetric, id: Record<string, string>): Emit {
  return (value, condition, status, reason) =>
    samples.push({
      metric,
      labels: condition === undefined ? { ...id } : { ...id, condition, status: status!, reason: reason! },
      value,
    });
}

/** The workload families other than the conditions, with each one's value for one object. */
const workloadValues: ReadonlyMap<
  ResourceMetric,
  (o: KeyReferencingObject, c: readonly unknown[]) => number | undefined
> = new Map([
  ['cmk_workload_on_desired_key', (_, c) => truth(c, 'KeyCurrent')],
  ['cmk_workload_on_current_key_material', (_, c) => truth(c, 'MaterialCurrent')],
  // Present only while the table cannot reach its key: the operator removes it once it can.
  ['cmk_keyspaces_table_deletion_timestamp_seconds', (o) => epochSeconds(o.status?.['deletionAfter'])],
]);

/**
 * One workload's samples of one family, handed to `emit` one by one. The one description of what a
 * workload serves: the renderer writes each straight into its text, `workloadSamples` collects them.
 */
function eachWorkloadSample(metric: ResourceMetric, o: KeyReferencingObject, emit: Emit): void {
  const conditions = conditionsOf(o.status);
  if (metric === 'cmk_object_condition') {
    eachCondition(conditions, emit);
    return;
  }
  const value = workloadValues.get(metric)?.(o, conditions);
  if (value !== undefined) emit(value);
}

/** The families a workload has samples in, in the order they are served. */
const workloadFamilies: readonly ResourceMetric[] = ['cmk_object_condition', ...workloadValues.keys()];
const isWorkloadFamily: ReadonlySet<ResourceMetric> = new Set(workloadFamilies);

/** The samples of one workload, job run or session (`kind` is its Kubernetes kind). */
export function workloadSamples(kind: string, o: KeyReferencingObject): Sample[] {
  const samples: Sample[] = [];
  const id = identity(kind, o);
  for (const metric of workloadFamilies) eachWorkloadSample(metric, o, collectInto(samples, metric, id));
  return samples;
}

/** The samples of one KmsKey at `nowMs`. */
export function kmsKeySamples(o: KmsKeyObject, nowMs: number): Sample[] {
  const id = identity('KmsKey', o);
  const s = o.status;
  const samples: Sample[] = [];
  eachCondition(conditionsOf(s), collectInto(samples, 'cmk_object_condition', id));
  const add = (metric: ResourceMetric, value: number | undefined, extra: Record<string, string> = {}) => {
    if (value !== undefined) samples.push({ metric, labels: { ...id, ...extra }, value });
  };
  if (!s) return samples;
  if (typeof s.keyState === 'string') add('cmk_kmskey_state', 1, { state: s.keyState });
  add('cmk_kmskey_deletion_timestamp_seconds', epochSeconds(s.deletionDate));
  add('cmk_kmskey_users', count(s.usage?.kubernetes), { source: 'kubernetes' });
  add('cmk_kmskey_users', count(s.usage?.aws), { source: 'aws' });
  add('cmk_kmskey_users', count(s.usage?.unmanaged), { source: 'aws_unmanaged' });
  add('cmk_kmskey_last_inventory_timestamp_seconds', epochSeconds(s.usage?.lastInventoryTime));
  add('cmk_kmskey_grants', count(s.grants?.count));
  add('cmk_kmskey_grants_limit', count(s.grants?.limit));
  if (s.rotation) {
    const rotated = (s.rotation.recent ?? []).map((r) => epochSeconds(r.date)).filter((t) => t !== undefined);
    // With no rotation listed, the object's age is a lower bound of the key material's age.
    const since = rotated.length > 0 ? Math.max(...rotated) : epochSeconds(o.metadata.creationTimestamp);
    if (since !== undefined) add('cmk_kmskey_rotation_age_seconds', Math.max(0, nowMs / 1000 - since));
    if (s.rotation.enabled)
      add(
        'cmk_kmskey_rotation_period_seconds',
        (count(s.rotation.periodInDays) ?? defaultRotationDays) * day,
      );
  }
  return samples;
}

export interface ResourceCaches {
  kmsKeys: KindCache<KmsKeyObject>;
  referencing: Array<{ cache: KindCache<KeyReferencingObject> }>;
}

/** Text-format escaping of a label value (backslash, newline, double quote). */
function labelValue(v: string): string {
  return /[\\\n"]/.test(v) ? v.replace(/[\\\n"]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`)) : v;
}

/** Text-format escaping of help text (backslash, newline). */
function helpText(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

const identityLabelNames = new Set(['kind', 'namespace', 'name']);

/** Objects rendered between two yields to the event loop. */
const objectsPerSlice = 500;
/** Series per chunk handed to the response: ~50-100 KB of text, below V8's large-object size. */
const linesPerChunk = 512;

/**
 * The per-object families in the Prometheus text format, rendered from `caches` at each call.
 *
 * Written straight to text rather than through prom-client gauges: at 10,000 workloads a scrape is
 * ~50,000 series, and resetting and refilling gauges (a hashed label set per series, kept until the
 * next scrape) then formatting them took ~350 ms of the event loop and kept ~15 MiB of heap between
 * scrapes; this takes ~110 ms and keeps no label sets (`scripts/scrape-cost.ts`). Rendered in slices
 * of `objectsPerSlice` objects with a yield to the event loop between them, so a scrape never holds
 * a watch event or a reconcile back for the whole of it (at 10,000 one slice is a few ms). Each
 * object's samples come from one version of it: the render walks the objects the caches held when
 * it began. Families keep the order of `resourceMetricFamilies`; a family with no sample still has
 * its HELP and TYPE lines, as prom-client writes them.
 *
 * Handed out in chunks of at most `linesPerChunk` series, which /metrics writes as they come, and
 * rendered family by family, one walk over the workloads per family: a chunk is handed out as soon
 * as it is full, so a scrape holds one chunk of text at a time. At 10,000 objects the exposition is
 * ~10 MB; built as one string it added ~11 MiB to the resident set at every scrape, and gathered
 * family by family before the first chunk went out (~80,000 lines that outlived V8's young
 * generation) it made a third of what the settled operator's old generation had to collect
 * (bench/results/memory-analysis.md, sessions 20 and 23). The KmsKeys, a few per Region, are
 * rendered once.
 */
export function resourceMetricsChunks(
  caches: ResourceCaches,
  now: () => number = Date.now,
): () => AsyncGenerator<string> {
  return async function* () {
    const nowMs = now();
    // The objects as the caches hold them now: every family is rendered from these versions.
    const keys = caches.kmsKeys.list();
    const workloads = caches.referencing.map(({ cache }) => ({
      kind: cache.type.kind,
      objects: cache.list(),
    }));
    const keySamples = new Map<ResourceMetric, Sample[]>();
    for (const k of keys)
      for (const sample of kmsKeySamples(k, nowMs)) {
        const list = keySamples.get(sample.metric);
        if (list) list.push(sample);
        else keySamples.set(sample.metric, [sample]);
      }
    let chunk = '';
    let lines = 0;
    /** The chunk built so far, to hand out; the next one starts empty. */
    const take = (): string => {
      const done = chunk;
      chunk = '';
      lines = 0;
      return done;
    };
    /** Adds `n` lines of text; returns the chunk to hand out when they would not fit in it. */
    const add = (text: string, n = 1): string | undefined => {
      const full = lines + n > linesPerChunk ? take() : undefined;
      chunk += text;
      lines += n;
      return full;
    };
    let rendered = 0;
    for (const [metric, family] of Object.entries(resourceMetricFamilies) as Array<
      [ResourceMetric, { help: string }]
    >) {
      let full = add(`# HELP ${metric} ${helpText(family.help)}\n# TYPE ${metric} gauge\n`, 2);
      if (full !== undefined) yield full;
      for (const sample of keySamples.get(metric) ?? []) {
        full = add(`${seriesLine(sample)}\n`);
        if (full !== undefined) yield full;
      }
      if (!isWorkloadFamily.has(metric)) continue;
      for (const { kind, objects } of workloads)
        for (const o of objects) {
          // Written straight into the chunk, without a sample object or label set per line: at
          // 10,000 workloads a scrape is ~50,000 lines, and their garbage came in one burst that
          // grew V8's young generation to ~20 MiB for the moment of the scrape.
          let id: string | undefined;
          eachWorkloadSample(metric, o, (value, condition, status, reason) => {
            id ??= identityLabels(kind, o);
            const extra =
              condition === undefined
                ? ''
                : `,condition="${labelValue(condition)}",status="${labelValue(status!)}",reason="${labelValue(reason!)}"`;
            const done = add(`${metric}{${id}${extra}} ${sampleValue(value)}\n`);
            // One object's few lines fill at most one chunk; were there two, neither is lost.
            if (done !== undefined) full = full === undefined ? done : full + done;
          });
          if (full !== undefined) {
            yield full;
            full = undefined;
          }
          if (++rendered === objectsPerSlice) {
            // A chunk never waits across a turn of the event loop: built in one go, written at
            // once, its text is garbage before V8's young generation is collected twice, so it
            // never reaches the old generation (which a settled operator collects rarely).
            rendered = 0;
            if (chunk !== '') yield take();
            await yieldToLoop();
          }
        }
    }
    if (chunk !== '') yield chunk;
  };
}

/** The kind, namespace and name labels, as they open each line of an object. */
function identityText(kind: string, namespace: string, name: string): string {
  return `kind="${labelValue(kind)}",namespace="${labelValue(namespace)}",name="${labelValue(name)}"`;
}

/** An object's identity labels (`identityText`). */
function identityLabels(kind: string, o: Meta): string {
  return identityText(kind, o.metadata.namespace ?? '', o.metadata.name ?? '');
}

/** One sample's line, without its newline: `metric{kind,namespace,name,other labels} value`. */
function seriesLine(sample: Sample): string {
  const l = sample.labels;
  let labels = identityText(l['kind'] ?? '', l['namespace'] ?? '', l['name'] ?? '');
  for (const k in l) if (!identityLabelNames.has(k)) labels += `,${k}="${labelValue(l[k]!)}"`;
  return `${sample.metric}{${labels}} ${sampleValue(sample.value)}`;
}

/** The per-object families as one text (tests, tools): what `resourceMetricsChunks` hands out, joined. */
export function resourceMetricsText(
  caches: ResourceCaches,
  now: () => number = Date.now,
): () => Promise<string> {
  const chunks = resourceMetricsChunks(caches, now);
  return () => joinChunks(chunks());
}

/** Adds the per-object families to what `registry` serves at /metrics (`exposition`). */
export function registerResourceMetrics(
  registry: Registry,
  caches: ResourceCaches,
  now: () => number = Date.now,
): void {
  registerTextFamilies(registry, resourceMetricsChunks(caches, now));
}
