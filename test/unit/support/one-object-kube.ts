// One object's store for the executor's unit tests: no API server in a unit test, so a status
// write stores what it is given (with the next resourceVersion) and is counted.

import type { KubeClient, KubeObject } from '../../../src/runtime/kube.ts';

export function oneObjectKube<O extends KubeObject & { status?: Record<string, unknown> }>(initial: O) {
  const writes: Array<Record<string, unknown>> = [];
  let object = initial;
  const kube = {
    replace: async (_t: unknown, o: O) => {
      writes.push(o.status!);
      object = { ...o, metadata: { ...o.metadata, resourceVersion: String(writes.length + 1) } };
      return object;
    },
    get: async () => object,
  } as unknown as KubeClient;
  return { kube, writes, current: () => object };
}
