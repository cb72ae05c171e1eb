// The informer cache keeps objects lean (src/runtime/trim.ts): no managedFields, no kubectl
// last-applied copy, repeated strings shared. A cached object is written back only through the
// /status subresource; against the real kube-apiserver this shows that such a write, made from the
// lean cached object, loses nothing the API server stored: annotations, labels, spec, finalizers and
// every field manager's managedFields entry stay as they were, and status is what was computed.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cmkResources } from '../../src/api/resources.ts';
import { apiVersion } from '../../src/api/shared.ts';
import {
  createKubeClient,
  type KubeClient,
  type KubeObject,
  loadKubeConfig,
} from '../../src/runtime/kube.ts';
import { writeStatusIfChanged } from '../../src/runtime/status.ts';
import { createStringPool, leanObject } from '../../src/runtime/trim.ts';
import { createInformer, type Informer } from '../../src/runtime/watch.ts';
import { createNamespace, eventually, uniqueName } from './support/cluster.ts';
import { installCrds } from './support/crds.ts';

interface Flink extends KubeObject {
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

const type = cmkResources.flinkApplication;
const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';
let kube: KubeClient;
let ns: string;
let informer: Informer<Flink>;

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig(inject('kubeconfigPath')));
  await installCrds();
  ns = await createNamespace('cache-trim');
  informer = createInformer<Flink>(
    { type, namespace: ns, transform: leanObject(createStringPool()) },
    { kube },
  );
  informer.start();
  await informer.waitForSync();
});

afterAll(async () => {
  await informer?.stop();
});

describe('a lean cached object written back through /status', () => {
  it('keeps everything the API server stored besides the new status', async () => {
    const name = uniqueName('orders');
    const manifest = {
      apiVersion,
      kind: 'FlinkApplication',
      metadata: {
        name,
        namespace: ns,
        labels: { team: 'a' },
        annotations: { [lastApplied]: '{"spec":{"applicationName":"orders"}}', note: 'kept' },
        finalizers: ['example.com/other-controller'],
      },
      spec: { applicationName: name, key: { kmsKeyRef: { name: 'orders-key' } }, region: 'eu-west-1' },
    };
    // Two field managers: the user's apply owns the spec, a status writer the status.
    await kube.apply<Flink>(type, manifest, { fieldManager: 'user-apply', force: true });
    const key = `${ns}/${name}`;
    const cached = await eventually(async () => informer.get(key), { what: 'the object in the cache' });
    expect(cached.metadata.managedFields).toBeUndefined();
    expect(cached.metadata.annotations?.[lastApplied]).toBeUndefined();
    const before = await kube.get<Flink>(type, { namespace: ns, name });

    const status = {
      observedGeneration: cached.metadata.generation,
      resourceArn: `arn:aws:kinesisanalytics:eu-west-1:111122223333:application/${name}`,
      awsState: 'READY',
    };
    const result = await writeStatusIfChanged({ kube }, type, cached, () => status);
    expect(result.written).toBe(true);

    const after = await kube.get<Flink>(type, { namespace: ns, name });
    expect(after.status).toEqual(status);
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.labels).toEqual(before.metadata.labels);
    expect(after.metadata.annotations).toEqual(before.metadata.annotations);
    expect(after.metadata.finalizers).toEqual(before.metadata.finalizers);
    // The user's managedFields entry survives the write from an object that had none.
    const managers = (o: Flink) =>
      (o.metadata.managedFields as Array<{ manager: string; operation: string; subresource?: string }>).map(
        (m) => `${m.manager}/${m.operation}/${m.subresource ?? ''}`,
      );
    expect(managers(after)).toEqual(expect.arrayContaining(managers(before)));
    expect(managers(after).some((m) => m.endsWith('/status'))).toBe(true);
  });
});
