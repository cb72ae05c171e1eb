// What one /metrics scrape of the per-object families costs the operator at N workloads: the time
// it takes, the longest the event loop is held without other work running in between (the render
// yields between slices of objects), the size of the text, and the heap it keeps between scrapes.
// The objects are synthetic (a third each Flink, Keyspaces, EMR Serverless; five conditions each,
// as a settled fleet's workloads have), the renderer is the operator's (src/reconcile/resource-metrics.ts).
// "Heap kept" is the heap after a full collection above the heap before the first scrape: what the
// metrics keep between scrapes plus a few MiB of V8's own (compiled code, its string caches), which
// is why it is not 0; compare runs of it, not its absolute value.
//
//   node --expose-gc --max-semi-space-size=4 scripts/scrape-cost.ts [--n 10000] [--rounds 6]

import { parseArgs } from 'node:util';
import type { KeyReferencingObject, KmsKeyObject } from '../src/api/resources.ts';
import { registerResourceMetrics } from '../src/reconcile/resource-metrics.ts';
import { createMetricsRegistry, expositionText } from '../src/runtime/metrics.ts';
import type { KindCache } from '../src/runtime/wiring.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '6' } },
});
const n = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const conditionTypes = ['Ready', 'Reconciling', 'Stalled', 'KeyCurrent', 'MaterialCurrent'];
function workload(kind: string, i: number): KeyReferencingObject {
  return {
    apiVersion: 'cmk.io/v1alpha1',
    kind,
    metadata: { namespace: `team-${i % 14}`, name: `${kind.toLowerCase()}-${i}` },
    spec: {} as never,
    status: {
      current: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/k' },
      conditions: conditionTypes.map((type) => ({
        type,
        status: type === 'Reconciling' || type === 'Stalled' ? 'False' : 'True',
        reason: 'OnDesiredKey',
        message: 'AWS reports the desired key',
      })),
    },
  } as KeyReferencingObject;
}
function cache<T extends KeyReferencingObject | KmsKeyObject>(kind: string, objects: T[]): KindCache<T> {
  return {
    type: { group: 'cmk.io', version: 'v1alpha1', plural: `${kind.toLowerCase()}s`, namespaced: true, kind },
    informers: [],
    get: () => undefined,
    keys: () => [],
    list: () => objects,
    indexBy: () => ({ lookup: () => [] }),
  };
}

const kinds = ['FlinkApplication', 'KeyspacesTable', 'EmrServerlessApplication'];
const referencing = kinds.map((kind, k) => ({
  cache: cache(
    kind,
    Array.from({ length: Math.floor(n / 3) + (k < n % 3 ? 1 : 0) }, (_, i) => workload(kind, i)),
  ),
}));
const registry = createMetricsRegistry({ defaultMetrics: false });
registerResourceMetrics(registry, { kmsKeys: cache<KmsKeyObject>('KmsKey', []), referencing });
gc();
const base = process.memoryUsage().heapUsed;
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
/** The longest the event loop went without running other work while `work` ran (ms). */
async function longestHold<T>(work: Promise<T>): Promise<{ value: T; holdMs: number }> {
  let last = performance.now();
  let holdMs = 0;
  let done = false;
  const tick = () => {
    const t = performance.now();
    holdMs = Math.max(holdMs, t - last);
    last = t;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work;
  done = true;
  holdMs = Math.max(holdMs, performance.now() - last);
  return { value, holdMs };
}

for (let round = 1; round <= Number(values.rounds); round++) {
  const t0 = performance.now();
  const scraped = await longestHold(expositionText(registry));
  let text: string | undefined = scraped.value;
  const ms = performance.now() - t0;
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const mb = text.length / 1e6;
  text = undefined; // what the scrape keeps, not the text it served
  gc();
  console.log(
    `scrape ${round}: ${ms.toFixed(0)} ms (the event loop held at most ${scraped.holdMs.toFixed(0)} ms at a time), ${series} series, ${mb.toFixed(1)} MB of text, heap kept +${mib(process.memoryUsage().heapUsed - base)} MiB`,
  );
}
