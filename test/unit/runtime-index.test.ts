// Informer indexes hold one key or one value as a plain string and several as a Set or array
// (src/runtime/watch.ts): every transition between one and several must answer lookups exactly as
// before.

import { describe, expect, it } from 'vitest';
import type { KubeList, KubeObject, WatchEvent, WatchOptions } from '../../src/runtime/kube.ts';
import { createInformer } from '../../src/runtime/watch.ts';

interface Obj extends KubeObject {
  values: string[];
}

const type = { group: '', version: 'v1', plural: 'things', namespaced: true, kind: 'Thing' };
const obj = (name: string, rv: number, ...values: string[]): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: String(rv) },
  values,
});

/** An informer over `listed`, then `events`; resolves once every event is applied. */
async function indexed(listed: Obj[], events: Array<WatchEvent<Obj>>) {
  let applied: () => void = () => {};
  const done = new Promise<void>((r) => (applied = r));
  const kube = {
    list: async <T extends KubeObject>(): Promise<KubeList<T>> => ({
      metadata: { resourceVersion: '1' },
      items: listed as unknown as T[],
    }),
    watch: <T extends KubeObject>(_t: unknown, o: WatchOptions = {}): AsyncIterable<WatchEvent<T>> =>
      (async function* () {
        for (const e of events) yield e as unknown as WatchEvent<T>;
        applied();
        await new Promise((_r, reject) =>
          o.signal?.addEventListener('abort', () => reject(o.signal?.reason)),
        );
      })(),
  };
  const informer = createInformer<Obj>({ type }, { kube });
  const index = informer.indexBy((o) => o.values);
  informer.start();
  await done;
  await new Promise((r) => setTimeout(r, 0));
  await informer.stop();
  return index;
}

describe('informer index', () => {
  it.each([
    {
      name: 'one key per value',
      listed: [obj('a', 1, 'x'), obj('b', 2, 'y')],
      events: [],
      expected: { x: ['ns/a'], y: ['ns/b'], z: [] },
    },
    {
      name: 'a value shared, then one of its keys moves away',
      listed: [obj('a', 1, 'x'), obj('b', 2, 'x'), obj('c', 3, 'x')],
      events: [{ type: 'MODIFIED', object: obj('b', 12, 'y') } as const],
      expected: { x: ['ns/a', 'ns/c'], y: ['ns/b'] },
    },
    {
      name: 'a shared value back to one key, then none',
      listed: [obj('a', 1, 'x'), obj('b', 2, 'x')],
      events: [
        { type: 'DELETED', object: obj('a', 11, 'x') } as const,
        { type: 'MODIFIED', object: obj('b', 12, 'x') } as const,
        { type: 'MODIFIED', object: obj('b', 13) } as const,
      ],
      expected: { x: [], y: [] },
    },
    {
      name: 'an object with several values, then one, then several again',
      listed: [obj('a', 1, 'x', 'y', 'x')],
      events: [
        { type: 'MODIFIED', object: obj('a', 11, 'y') } as const,
        { type: 'MODIFIED', object: obj('a', 12, 'y', 'z') } as const,
        { type: 'ADDED', object: obj('b', 13, 'z') } as const,
      ],
      expected: { x: [], y: ['ns/a'], z: ['ns/a', 'ns/b'] },
    },
  ])('$name', async ({ listed, events, expected }) => {
    const index = await indexed(listed, events);
    for (const [value, keys] of Object.entries(expected)) expect(index.lookup(value), value).toEqual(keys);
  });
});
