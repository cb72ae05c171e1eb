// Idempotent key creation (issue #13 item 4), end to end: the operator in this worker against the real
// kube-apiserver and the emulator over HTTP. A KmsKey with spec.create makes at most one key, whatever
// happens around CreateKey: an alias another key holds (before CreateKey, or taken in the moment
// between CreateKey and CreateAlias), a status write lost after CreateKey. Assertions are on final
// state: the keys KMS holds per `cmk.io/uid` tag (real SDK, paginated), and the object's status.

import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  KMSClient,
  paginateListKeys,
  paginateListResourceTags,
} from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../../src/api/shared.ts';
import { adminIdentity } from './support/cluster.ts';
import { condition, plurals, useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface KmsKeyView {
  metadata: { uid: string; resourceVersion: string; generation: number };
  status?: {
    keyArn?: string;
    creation?: { requestedAt: string; keyArn?: string };
    conditions?: Cond[];
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every key KMS holds tagged `cmk.io/uid` = uid (every ListKeys page, every tag page). */
async function keysTagged(uid: string): Promise<string[]> {
  const found: string[] = [];
  for await (const page of paginateListKeys({ client: kms, pageSize: 100 }, {})) {
    for (const k of page.Keys ?? []) {
      for await (const tags of paginateListResourceTags({ client: kms }, { KeyId: k.KeyArn! }))
        if (tags.Tags?.some((t) => t.TagKey === 'cmk.io/uid' && t.TagValue === uid)) found.push(k.KeyArn!);
    }
  }
  return found;
}

const byOperator = (c: { userIdentity: { accessKeyId: string } }) =>
  c.userIdentity.accessKeyId === process.env['AWS_ACCESS_KEY_ID'];

/** Runs the object's reconcile now (an annotation: a watch event, no spec change). */
async function touch(name: string, n: number): Promise<void> {
  const path = `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals['KmsKey']}/${name}`;
  const res = await adminIdentity().request(
    'PATCH',
    path,
    JSON.stringify({ metadata: { annotations: { 'test.cmk.io/touch': String(n) } } }),
    { contentType: 'application/merge-patch+json' },
  );
  if (res.status !== 200) throw new Error(`touch ${name}: ${res.status}`);
}

/** Five reconciles, a second apart (a stalled object is otherwise looked at again each minute). */
async function reconcileSeveralTimes(name: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await touch(name, i);
    await sleep(1000);
  }
}

/** CreateKey calls the operator made for the object named `name` (its owner tag). */
async function createKeyCalls(name: string): Promise<number> {
  const calls = await f.admin.calls({ service: 'kms', eventName: 'CreateKey' });
  return calls.filter((c) => JSON.stringify(c.requestParameters).includes(`it/${f.namespace}/${name}"`))
    .length;
}

async function keyHoldingAlias(alias: string): Promise<string> {
  const key = (await kms.send(new CreateKeyCommand({ Description: `holds ${alias}` }))).KeyMetadata!;
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId }));
  return key.Arn!;
}

/** Replaces the object's status (retrying a conflict with the operator's own writes). */
async function replaceStatus(name: string, status: (o: KmsKeyView) => KmsKeyView['status']): Promise<void> {
  const path = `/apis/${apiVersion}/namespaces/${f.namespace}/${plurals['KmsKey']}/${name}`;
  for (let attempt = 0; attempt < 10; attempt++) {
    const o = (await f.get<KmsKeyView>('KmsKey', name))!;
    const res = await adminIdentity().request('PUT', `${path}/status`, { ...o, status: status(o) });
    if (res.status === 200) return;
    if (res.status !== 409) throw new Error(`status write: ${res.status} ${JSON.stringify(res.body)}`);
  }
  throw new Error('status write: conflicts');
}

const stalled = (reason: string) => condition('Stalled', 'True', reason);
const ready = condition('Ready', 'True');

describe('an alias another key holds', () => {
  it('creates no key, stalls naming the holder, and creates the key once the alias is free', async () => {
    const holder = await keyHoldingAlias('alias/taken-before');
    const o = await f.create<KmsKeyView>('KmsKey', 'alias-taken', {
      create: { alias: 'alias/taken-before' },
    });
    const c = await f.waitFor<KmsKeyView, Cond>('KmsKey', 'alias-taken', stalled('AliasInUse'));
    expect(c.message).toContain(holder);
    expect(c.message).toContain('alias/taken-before');
    // Several reconciles: still no key.
    await reconcileSeveralTimes('alias-taken');
    const before = await keysTagged(o.metadata.uid);
    console.log(
      `alias taken before CreateKey: ${await createKeyCalls('alias-taken')} CreateKey calls, ${before.length} keys tagged with the object's uid after 5 reconciles`,
    );
    expect(before).toEqual([]);
    expect(await createKeyCalls('alias-taken')).toBe(0);
    expect(stalled('AliasInUse')((await f.get<KmsKeyView>('KmsKey', 'alias-taken'))!)).toBeDefined();

    // The fix the message names: free the alias. The key is created, once, with the alias.
    await kms.send(new DeleteAliasCommand({ AliasName: 'alias/taken-before' }));
    await touch('alias-taken', 99); // else seen within the minute
    const done = await f.waitFor<KmsKeyView>('KmsKey', 'alias-taken', (x) => (ready(x) ? x : undefined));
    expect(await keysTagged(o.metadata.uid)).toEqual([done.status!.keyArn]);
    expect(done.status?.creation).toBeUndefined();
    const aliased = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/taken-before' }));
    expect(aliased.KeyMetadata?.Arn).toBe(done.status!.keyArn);
  });

  it('taken between CreateKey and CreateAlias: the one key is recorded, never created again', async () => {
    // CreateAlias waits 1.5 s; the alias is taken (seeded, past the faults) once CreateKey is logged.
    await f.admin.addFault({ service: 'kms', operation: 'CreateAlias', latencyMs: { min: 1500, max: 1500 } });
    try {
      const mark = (await f.admin.calls()).at(-1)?.eventId ?? 0;
      const o = await f.create<KmsKeyView>('KmsKey', 'alias-race', { create: { alias: 'alias/taken-race' } });
      for (let i = 0; i < 200 && (await createKeyCalls('alias-race')) === 0; i++) await sleep(25);
      f.emulator.seed({ kms: { keys: [{ alias: 'alias/taken-race', description: 'the racer' }] } });
      const holder = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/taken-race' }))).KeyMetadata!
        .Arn!;
      const c = await f.waitFor<KmsKeyView, Cond>('KmsKey', 'alias-race', stalled('AliasInUse'));
      expect(c.message).toContain(holder);
      await reconcileSeveralTimes('alias-race');
      const tagged = await keysTagged(o.metadata.uid);
      console.log(
        `alias taken after CreateKey: ${await createKeyCalls('alias-race')} CreateKey calls, ${tagged.length} keys tagged with the object's uid after 5 reconciles`,
      );
      expect(tagged).toHaveLength(1);
      expect(await createKeyCalls('alias-race')).toBe(1);
      const stored = (await f.get<KmsKeyView>('KmsKey', 'alias-race'))!;
      expect(stored.status?.creation?.keyArn).toBe(tagged[0]);
      expect(
        (await f.admin.calls({ since: mark, eventName: 'CreateAlias', errorCode: 'AlreadyExistsException' }))
          .length,
      ).toBeGreaterThanOrEqual(1);

      // Freed: the recorded key gets the alias; still one key.
      await f.admin.clearFaults();
      await kms.send(new DeleteAliasCommand({ AliasName: 'alias/taken-race' }));
      await touch('alias-race', 99);
      const done = await f.waitFor<KmsKeyView>('KmsKey', 'alias-race', (x) => (ready(x) ? x : undefined));
      expect(done.status?.keyArn).toBe(tagged[0]);
      expect(await keysTagged(o.metadata.uid)).toEqual(tagged);
    } finally {
      await f.admin.clearFaults();
    }
  });
});

describe('a status write lost after CreateKey', () => {
  it.each([
    ['without an alias: found by its cmk.io/uid tag among every key', undefined],
    ['with an alias: found through the alias it holds', 'alias/lost-write'],
  ])('%s', async (_label, alias) => {
    const name = alias ? 'lost-write-alias' : 'lost-write';
    // Other keys around it, so the search has something to look through.
    for (let i = 0; i < 5; i++) await kms.send(new CreateKeyCommand({ Description: `noise ${i}` }));
    const o = await f.create<KmsKeyView>('KmsKey', name, { create: alias ? { alias } : {} });
    const first = await f.waitFor<KmsKeyView>('KmsKey', name, (x) => (ready(x) ? x : undefined));
    const arn = first.status!.keyArn!;
    const mark = (await f.admin.calls()).at(-1)?.eventId ?? 0;
    // The status as a crash right after CreateKey leaves it: the intent, no key recorded.
    await replaceStatus(name, () => ({ creation: { requestedAt: new Date().toISOString() } }));
    const again = await f.waitFor<KmsKeyView>('KmsKey', name, (x) =>
      ready(x) && x.status?.keyArn && !x.status.creation ? x : undefined,
    );
    expect(again.status?.keyArn).toBe(arn);
    expect(await keysTagged(o.metadata.uid)).toEqual([arn]);
    expect(await createKeyCalls(name)).toBe(1);
    const searched = (await f.admin.calls({ since: mark, eventName: 'ListKeys' })).filter(byOperator);
    expect(searched.length > 0).toBe(alias === undefined);
  });
});
