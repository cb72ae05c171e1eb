import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/runtime/kube.ts';
import { createStringPool, dropBookkeeping, leanObject } from '../../src/runtime/trim.ts';

/** An object as JSON.parse gives it: every string a fresh copy. */
function parsed<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function workload(name: string, uid: string) {
  return parsed({
    apiVersion: 'cmk.io/v1alpha1',
    kind: 'FlinkApplication',
    metadata: {
      name,
      namespace: 'team-a',
      uid,
      resourceVersion: '42',
      generation: 2,
      creationTimestamp: '2026-11-23T10:00:00Z',
      labels: { app: 'orders' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}',
        note: 'kept',
      },
      finalizers: ['cmk.io/workload'],
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec: { applicationName: name, key: { kmsKeyRef: { name: 'orders-key' } }, region: 'eu-west-1' },
    status: {
      observedGeneration: 2,
      desiredKeyArn: keyArn,
      current: { keyType: 'CustomerManaged', keyArn },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'OnDesiredKey', message: 'AWS reports the desired key' },
      ],
      plan: ['nothing to do'],
    },
  });
}

describe('dropBookkeeping', () => {
  it('drops managedFields and the last-applied annotation, and nothing else', () => {
    const o = workload('a', 'u1');
    const expected = parsed(o) as Partial<typeof o>;
    delete (expected.metadata as Partial<typeof o.metadata>).managedFields;
    delete (expected.metadata!.annotations as Partial<typeof o.metadata.annotations>)[
      'kubectl.kubernetes.io/last-applied-configuration'
    ];
    expect(dropBookkeeping(o)).toEqual(expected);
  });

  it('leaves the objects it rebuilt with V8 fast properties (a deleted key makes a hash table)', () => {
    // Hash-table metadata cost 4.3 MiB more at 10,000 cached objects (bench/results/memory-analysis.md).
    v8.setFlagsFromString('--allow-natives-syntax');
    const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
    const o = dropBookkeeping(workload('a', 'u1'));
    expect(hasFastProperties(o.metadata)).toBe(true);
    expect(hasFastProperties(o.metadata.annotations!)).toBe(true);
  });

  it('leaves an object without bookkeeping as it is', () => {
    const o: KubeObject = { metadata: { name: 'plain' } };
    expect(dropBookkeeping(parsed(o))).toEqual(o);
  });
});

describe('leanObject', () => {
  it('keeps every value a reconcile reads: equal to the object minus the bookkeeping', () => {
    const lean = leanObject(createStringPool());
    const o = workload('a', 'u1');
    expect(lean(parsed(o))).toEqual(dropBookkeeping(parsed(o)));
  });

  it('holds a string repeated across cached objects once: the heap grows far less than without', () => {
    // Identity of strings is not observable in JavaScript; the heap is. 4,000 objects carrying five
    // repeated 80-character values: about 2 MiB of copies without the pool.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const make = (i: number) =>
      parsed({
        metadata: { name: `o${i}` },
        status: Object.fromEntries(
          [1, 2, 3, 4, 5].map((k) => [`f${k}`, `${keyArn.slice(0, 70)}-value-${k}`]),
        ),
      });
    const growth = (keep: (o: KubeObject) => KubeObject) => {
      gc();
      const before = process.memoryUsage().heapUsed;
      const kept = Array.from({ length: 4000 }, (_, i) => keep(make(i)));
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      expect(kept).toHaveLength(4000);
      return grown;
    };
    const plain = growth((o) => o);
    const pooled = growth(leanObject(createStringPool()));
    expect(plain - pooled).toBeGreaterThan(1.5 * 2 ** 20);
  });

  it('does not pool values unique to each object (they would only churn the pool)', () => {
    const pool = createStringPool();
    const lean = leanObject(pool);
    for (let i = 0; i < 100; i++) lean(workload(`w${i}`, `uid-${i}`));
    // The strings every workload shares, once, and each spec's application name; not the 3 x 100
    // metadata names, uids and resource versions.
    expect(pool.size()).toBeLessThan(100 + 30);
  });

  it('stays bounded however many distinct strings pass through, values intact', () => {
    const pool = createStringPool(100);
    const lean = leanObject(pool);
    for (let i = 0; i < 1000; i++) {
      const o = lean(parsed({ metadata: { name: `o${i}` }, spec: { id: `distinct-${i}` } }));
      expect(o.spec.id).toBe(`distinct-${i}`);
    }
    expect(pool.size()).toBeLessThanOrEqual(200);
  });

  it('leaves long strings (beyond 512 characters) unpooled but intact', () => {
    const long = 'x'.repeat(600);
    const lean = leanObject(createStringPool());
    expect(lean(parsed({ metadata: { name: 'a' }, spec: { blob: long } })).spec.blob).toBe(long);
  });
});

describe('the only whole-object write is the status writer', () => {
  it('PUTs (kube.replace) only in the /status writer and for Leases, which no informer caches', () => {
    // A lean cached object PUT to the main resource would drop its managedFields and last-applied
    // annotation; through /status the API server keeps them (test/integration/cache-trim.test.ts).
    // A new PUT of a cached object must go through writeStatusIfChanged or read the object first.
    const src = join(import.meta.dirname, '../../src');
    const writers = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && f !== join('runtime', 'kube.ts'))
      .filter((f) => /\bkube\.replace\b|\.replace</.test(readFileSync(join(src, f), 'utf8')))
      .sort();
    expect(writers).toEqual([join('runtime', 'leader.ts'), join('runtime', 'status.ts')]);
    const status = readFileSync(join(src, 'runtime', 'status.ts'), 'utf8');
    expect(status).toMatch(/replace<T>\([^)]*subresource: 'status'/s);
  });
});
