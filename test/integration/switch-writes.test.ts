// What one key switch costs the API server, watched from the outside: every write to the object
// (a watch on it) and every Event about it, from the spec change until AWS reports the new key.
// A Managed Flink update takes minutes in AWS, longer than the operator's first look after it; the
// emulator's update here outlasts that look too.

import { Watch } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { adminIdentity } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator({
  emulatorConfig: {
    transitions: { default: { min: 200, max: 400 }, 'kinesisanalytics.UPDATING': { min: 7000, max: 7500 } },
  },
});

interface Watched {
  metadata: { generation?: number; resourceVersion?: string };
  status?: Record<string, unknown> & { conditions?: Array<{ type: string; status: string; reason: string }> };
}

/** Every version of the object the API server stores while `during` runs. */
async function versionsDuring(plural: string, name: string, during: () => Promise<void>): Promise<Watched[]> {
  const seen: Watched[] = [];
  const watch = new Watch(adminIdentity().kubeConfig);
  const request = await watch.watch(
    `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/${plural}`,
    { fieldSelector: `metadata.name=${name}` },
    (type, object: Watched) => {
      if (type === 'MODIFIED') seen.push(object);
    },
    () => undefined,
  );
  try {
    await during();
    // Anything written right after the last look lands too.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    request.abort();
  }
  return seen;
}

/**
 * A Flink application `name` adopted on key `<name>-a` (AWS state `awsStatus`), then switched to
 * `<name>-b` (after `beforeSwitch`): every stored version while it switched, and the Events before.
 */
async function switchFlink(
  name: string,
  awsStatus: string,
  beforeSwitch: () => Promise<void> = async () => {},
) {
  const first = await f.serviceKey(`${name}-a`);
  const second = await f.serviceKey(`${name}-b`);
  f.emulator.seed({
    kinesisanalytics: {
      applications: [
        { name: `${name}-app`, status: awsStatus, keyType: 'CUSTOMER_MANAGED_KEY', keyId: first },
      ],
    },
  });
  await f.create('FlinkApplication', name, {
    applicationName: `${name}-app`,
    key: { kmsKeyRef: { name: `${name}-a` } },
  });
  await f.waitFor('FlinkApplication', name, condition('Ready', 'True'), 'adopted on its key', 30_000);
  const eventsBefore = await f.events(name);
  await beforeSwitch();
  const versions = await versionsDuring('flinkapplications', name, async () => {
    await f.patch('FlinkApplication', name, { spec: { key: { kmsKeyRef: { name: `${name}-b` } } } });
    await f.waitFor(
      'FlinkApplication',
      name,
      (o: Watched) =>
        condition('Ready', 'True')(o as never) &&
        (o.status?.['current'] as { keyArn?: string } | undefined)?.keyArn === second
          ? true
          : undefined,
      'on the second key',
      40_000,
    );
  });
  return { first, second, versions, eventsBefore };
}

describe('a key switch', () => {
  it('costs a running Flink application two status writes and one Event, however long AWS takes', {
    timeout: 90_000,
  }, async () => {
    const { first, second, versions, eventsBefore } = await switchFlink('writes', 'RUNNING');
    const statusWrites = versions.slice(1);
    const summary = versions.map((v) => ({
      awsState: v.status?.['awsState'],
      current: v.status?.['current'],
      lastOperation: v.status?.['lastOperation'],
      conditions: v.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
    }));
    // The spec change itself, then: the switch's intent, and its result once AWS reports it.
    expect(versions[0]?.metadata.generation).toBeGreaterThan(1);
    expect(statusWrites, JSON.stringify(summary, null, 1)).toHaveLength(2);
    // Until AWS reports the end, the status names the key the running application is still on.
    const [intent, result] = statusWrites as [Watched, Watched];
    expect(intent.status?.['lastOperation']).toMatchObject({ status: 'InProgress', toKey: second });
    expect(intent.status?.['current']).toMatchObject({ keyArn: first });
    expect(result.status?.['lastOperation']).toMatchObject({ status: 'Succeeded', toKey: second });
    expect((result.status?.['lastOperation'] as { id?: string } | undefined)?.id).toBeTruthy();
    await expectOneSwitchingEvent('writes', eventsBefore);
  });

  it('throttled through all its attempts, costs the same two writes and one Event, and no Warning', {
    timeout: 90_000,
  }, async () => {
    // The SDK tries a call three times: the first switch attempt is throttled through all of them,
    // and so is the first retry's first attempt.
    const { second, versions, eventsBefore } = await switchFlink('throttled', 'READY', () =>
      f.admin.addFault({
        service: 'kinesisanalytics',
        operation: 'UpdateApplication',
        throttleRate: 1,
        limit: 4,
      }),
    );
    const updates = (await f.admin.calls()).filter((c) => c.eventName === 'UpdateApplication');
    expect(updates.filter((c) => c.errorCode === 'ThrottlingException')).toHaveLength(4);
    const statusWrites = versions.slice(1);
    const summary = versions.map((v) => ({
      lastOperation: v.status?.['lastOperation'],
      conditions: v.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
    }));
    expect(statusWrites, JSON.stringify(summary, null, 1)).toHaveLength(2);
    const [intent, result] = statusWrites as [Watched, Watched];
    expect(intent.status?.['lastOperation']).toMatchObject({ status: 'InProgress', toKey: second });
    expect(result.status?.['lastOperation']).toMatchObject({
      status: 'Succeeded',
      toKey: second,
      // The time the switch was first asked for: the retry found its intent stored.
      startTime: (intent.status?.['lastOperation'] as { startTime?: string } | undefined)?.startTime,
    });
    const events = await f.events('throttled');
    expect(events.filter((e) => e.type === 'Warning')).toEqual([]);
    await expectOneSwitchingEvent('throttled', eventsBefore);
  });
});

/** One Event more than `before`, and it is the switch's. */
async function expectOneSwitchingEvent(name: string, before: Array<{ reason: string }>) {
  const events = await f.events(name);
  expect(events.length - before.length).toBe(1);
  expect(events.filter((e) => e.reason === 'SwitchingKey')).toHaveLength(
    before.filter((e) => e.reason === 'SwitchingKey').length + 1,
  );
}
