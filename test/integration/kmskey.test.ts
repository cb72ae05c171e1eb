// The KmsKey controller end to end: the operator (in this worker) against the real kube-apiserver
// and the AWS emulator over HTTP. Assertions are on final state: the object's status and events,
// and the key as KMS reports it through the SDK.

import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { Watch } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminIdentity } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator();
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

interface KmsKeyView {
  metadata: { finalizers?: string[]; generation: number };
  status?: {
    keyArn?: string;
    keyState?: string;
    observedGeneration?: number;
    rotation?: { enabled: boolean; periodInDays?: number; lastOnDemandToken?: string };
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
    usedBy?: Array<{ kind: string; name: string }>;
  };
}

let n = 0;
async function newKey(opts: { keySpec?: 'SYMMETRIC_DEFAULT' | 'RSA_2048'; alias?: string } = {}) {
  const out = await kms.send(
    new CreateKeyCommand({
      KeySpec: opts.keySpec ?? 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Description: `it ${++n}`,
    }),
  );
  const meta = out.KeyMetadata!;
  if (opts.alias) await kms.send(new CreateAliasCommand({ AliasName: opts.alias, TargetKeyId: meta.KeyId }));
  return { keyId: meta.KeyId!, arn: meta.Arn! };
}

const ready = condition('Ready', 'True');

/** Waits until KMS shows the key Enabled (the operator's protection enabled it again). */
async function keyEnabledAgain(arn: string): Promise<void> {
  const { eventually } = await import('./support/cluster.ts');
  await eventually(
    async () =>
      (await kms.send(new DescribeKeyCommand({ KeyId: arn }))).KeyMetadata?.KeyState === 'Enabled'
        ? true
        : undefined,
    { what: 'key Enabled again', timeoutMs: 20_000 },
  );
}
const readyKey = (name: string): Promise<KmsKeyView> =>
  f.waitFor<KmsKeyView>('KmsKey', name, (o) => (ready(o) ? o : undefined), `${name} Ready`);

describe('adopting an existing key', () => {
  it.each([
    ['by alias name', (_k: { keyId: string; arn: string }, alias: string) => alias],
    ['by key id', (k: { keyId: string }) => k.keyId],
    ['by key ARN', (k: { arn: string }) => k.arn],
    ['by alias ARN', (_k: unknown, alias: string) => `arn:aws:kms:us-east-1:111122223333:${alias}`],
  ])('%s resolves to the key ARN and becomes Ready', async (label, ref) => {
    const alias = `alias/adopt-${++n}`;
    const key = await newKey({ alias });
    const name = `adopt-${n}`;
    await f.create('KmsKey', name, { keyId: ref(key as never, alias) });
    const o = await readyKey(name);
    expect(o.status?.keyArn, label).toBe(key.arn);
    expect(o.status?.keyState).toBe('Enabled');
    expect(o.status?.observedGeneration).toBe(o.metadata.generation);
    expect(o.metadata.finalizers).toContain('cmk.io/key-protection');
  });
});

describe('creating a key', () => {
  it('creates a symmetric key with alias, ownership tags and a policy for the named services', async () => {
    await f.create('KmsKey', 'created', {
      create: {
        description: 'orders',
        alias: 'alias/created-by-operator',
        tags: { team: 'payments' },
        policy: { services: ['ManagedFlink', 'Keyspaces'] },
      },
    });
    const o = await readyKey('created');
    const arn = o.status!.keyArn!;
    const described = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/created-by-operator' }));
    expect(described.KeyMetadata?.Arn).toBe(arn);
    expect(described.KeyMetadata?.KeySpec).toBe('SYMMETRIC_DEFAULT');
    const tags = await kms.send(new ListResourceTagsCommand({ KeyId: arn }));
    expect(tags.Tags).toEqual(
      expect.arrayContaining([
        { TagKey: 'team', TagValue: 'payments' },
        { TagKey: 'cmk.io/owner', TagValue: `it/${f.namespace}/created` },
      ]),
    );
    const policy = JSON.parse(
      (await kms.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' }))).Policy!,
    );
    const sids = policy.Statement.map((s: { Sid: string }) => s.Sid);
    expect(sids).toEqual(
      expect.arrayContaining([
        'EnableIamPolicies',
        'ManagedFlinkServiceDurableState',
        'KeyspacesKeyUsersViaService',
      ]),
    );
  });

  it('creates exactly one key however often it reconciles', async () => {
    await f.create('KmsKey', 'created-once', { create: { alias: 'alias/created-once' } });
    const first = (await readyKey('created-once')).status!.keyArn;
    await new Promise((r) => setTimeout(r, 3500)); // a few resyncs
    const calls = await f.admin.calls({ service: 'kms', eventName: 'CreateKey' });
    const ours = calls.filter((c) =>
      JSON.stringify(c.requestParameters).includes(`${f.namespace}/created-once`),
    );
    expect(ours).toHaveLength(1);
    expect((await f.get<KmsKeyView>('KmsKey', 'created-once'))?.status?.keyArn).toBe(first);
  });
});

describe('key checks', () => {
  it.each([
    ['a missing key', async (): Promise<string> => 'alias/does-not-exist', 'KeyNotFound'],
    [
      'a disabled key',
      async (): Promise<string> => {
        const k = await newKey();
        await kms.send(new DisableKeyCommand({ KeyId: k.keyId }));
        return k.arn;
      },
      'KeyDisabled',
    ],
    [
      'a key pending deletion',
      async (): Promise<string> => {
        const k = await newKey();
        await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.keyId, PendingWindowInDays: 7 }));
        return k.arn;
      },
      'KeyPendingDeletion',
    ],
    [
      'an asymmetric key',
      async (): Promise<string> => (await newKey({ keySpec: 'RSA_2048' })).arn,
      'KeyNotSymmetric',
    ],
  ] as const)('%s is reported as %s and is not Ready', async (_label, make, reason) => {
    const name = `check-${++n}`;
    await f.create('KmsKey', name, { keyId: await make() });
    const c = await f.waitFor(
      'KmsKey',
      name,
      condition('KeyUsable', 'False', reason),
      `${name} KeyUsable=False ${reason}`,
    );
    expect(c.message.length).toBeGreaterThan(20);
    const o = await f.get<KmsKeyView>('KmsKey', name);
    expect(o?.status?.conditions?.find((x) => x.type === 'Ready')?.status).not.toBe('True');
  });
});

describe('rotation', () => {
  it('enables automatic rotation with the declared period and follows period changes', async () => {
    const key = await newKey();
    const o = await f.create<{ metadata: { resourceVersion: string } }>('KmsKey', 'rotating', {
      keyId: key.arn,
      rotation: { periodInDays: 180 },
    });
    void o;
    await f.waitFor('KmsKey', 'rotating', condition('RotationCurrent', 'True'));
    let status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.arn }));
    expect(status).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 180 });

    const current = (await f.get<{ spec: Record<string, unknown> } & Record<string, unknown>>(
      'KmsKey',
      'rotating',
    ))!;
    current.spec['rotation'] = { periodInDays: 365 };
    const { adminIdentity } = await import('./support/cluster.ts');
    await adminIdentity().request(
      'PUT',
      `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/kmskeys/rotating`,
      current,
    );
    await f.waitFor<KmsKeyView>('KmsKey', 'rotating', (x) =>
      x.status?.rotation?.periodInDays === 365 && ready(x) ? x : undefined,
    );
    status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.arn }));
    expect(status.RotationPeriodInDays).toBe(365);
  });

  it('rotates on demand exactly once per token', async () => {
    const key = await newKey();
    await f.create('KmsKey', 'on-demand', {
      keyId: key.arn,
      rotation: { enabled: false, onDemandToken: 'first' },
    });
    await f.waitFor<KmsKeyView>(
      'KmsKey',
      'on-demand',
      (o) => (o.status?.rotation?.lastOnDemandToken === 'first' && ready(o) ? o : undefined),
      'token recorded and Ready',
      30_000,
    );
    await new Promise((r) => setTimeout(r, 3500)); // several resyncs must not rotate again
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: key.arn }));
    expect(rotations.Rotations?.filter((r) => r.RotationType === 'ON_DEMAND')).toHaveLength(1);
    const calls = await f.admin.calls({ service: 'kms', eventName: 'RotateKeyOnDemand' });
    expect(
      calls.filter((c) => JSON.stringify(c.requestParameters).includes(key.keyId) && !c.errorCode),
    ).toHaveLength(1);
  });
});

describe('an action while an on-demand rotation runs', () => {
  it('is taken during the rotation, on a full read of the key made just before it', {
    timeout: 60_000,
  }, async () => {
    const key = await newKey();
    await f.create('KmsKey', 'rotating-protected', {
      keyId: key.arn,
      rotation: { enabled: false },
      protection: { reenable: true },
    });
    await readyKey('rotating-protected');
    await f.create('EmrServerlessApplication', 'rotating-user', {
      applicationId: '00fabc123def4599',
      key: { kmsKeyRef: { name: 'rotating-protected' } },
    });
    await f.waitFor<KmsKeyView>('KmsKey', 'rotating-protected', (o) =>
      o.status?.usedBy?.length ? o : undefined,
    );
    // A rotation that takes 6 s. While it runs and DescribeKey still shows the material from before
    // it, the KmsKey polls with DescribeKey alone, its rotation state from the rotation's first look.
    await f.admin.patchConfig({
      transitions: { default: { min: 200, max: 400 }, 'kms.ROTATION': { min: 6000, max: 6000 } },
    });
    try {
      const began = (await f.admin.calls()).at(-1)?.eventId ?? 0;
      await f.patch('KmsKey', 'rotating-protected', { spec: { rotation: { onDemandToken: 'r1' } } });
      await f.waitFor<KmsKeyView & { status?: { rotation?: { onDemandRotationStartDate?: string } } }>(
        'KmsKey',
        'rotating-protected',
        (o) => (o.status?.rotation?.onDemandRotationStartDate ? o : undefined),
        'the rotation reported running',
        20_000,
      );
      // A few polls of the running rotation, then the key is disabled outside Kubernetes: the
      // polls' DescribeKey shows it, and protection enables it again.
      await new Promise((r) => setTimeout(r, 1000));
      const before = (await f.admin.calls()).at(-1)?.eventId ?? 0;
      await kms.send(new DisableKeyCommand({ KeyId: key.arn }));
      await keyEnabledAgain(key.arn);
      const ofKey = (c: { requestParameters: unknown }) =>
        JSON.stringify(c.requestParameters).includes(key.keyId);
      const rotate = (await f.admin.calls({ since: began, eventName: 'RotateKeyOnDemand' })).filter(
        (c) => ofKey(c) && !c.errorCode,
      );
      expect(rotate).toHaveLength(1);
      const calls = (await f.admin.calls({ since: before, service: 'kms' })).filter(ofKey);
      const names = calls.map((c) => c.eventName);
      const disable = names.indexOf('DisableKey');
      const enable = names.indexOf('EnableKey');
      expect(disable).toBeGreaterThanOrEqual(0);
      expect(enable).toBeGreaterThan(disable);
      // Taken while the rotation ran (6 s from its call), not held until it ended.
      expect(calls[enable]!.eventTime).toBeLessThan(rotate[0]!.eventTime + 6000);
      // Decided on a full read of the key after the poll that saw it disabled: DescribeKey again,
      // its rotation state and its rotations, not on the poll's DescribeKey and cached state alone.
      const between = names.slice(disable + 1, enable);
      expect(between.filter((n) => n === 'DescribeKey').length).toBeGreaterThanOrEqual(2);
      expect(between).toContain('GetKeyRotationStatus');
      expect(between).toContain('ListKeyRotations');
      // The rotation still ends, once, and the KmsKey records it.
      const done = await f.waitFor<KmsKeyView>(
        'KmsKey',
        'rotating-protected',
        (o) => (o.status?.rotation?.lastOnDemandToken === 'r1' && ready(o) ? o : undefined),
        'the rotation recorded and the key Ready',
        30_000,
      );
      expect(done.status?.keyState).toBe('Enabled');
      const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: key.arn }));
      expect(rotations.Rotations?.filter((r) => r.RotationType === 'ON_DEMAND')).toHaveLength(1);
    } finally {
      await f.admin.patchConfig({ transitions: { default: { min: 200, max: 400 } } });
    }
  });
});

describe('a throttled on-demand rotation', () => {
  it('is retried quietly: its intent is written once, with no Warning, and it rotates once', {
    timeout: 60_000,
  }, async () => {
    const key = await newKey();
    await f.create('KmsKey', 'throttled-rotation', { keyId: key.arn, rotation: { enabled: false } });
    await readyKey('throttled-rotation');
    // The SDK tries a call three times: the first rotation attempt is throttled through all of them,
    // and so is the first retry's first attempt.
    await f.admin.addFault({ service: 'kms', operation: 'RotateKeyOnDemand', throttleRate: 1, limit: 4 });
    const requestedAt = new Set<string>();
    const watch = await new Watch(adminIdentity().kubeConfig).watch(
      `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/kmskeys`,
      { fieldSelector: 'metadata.name=throttled-rotation' },
      (_type, o: { status?: { rotation?: { pendingOnDemand?: { requestedAt?: string } } } }) => {
        const at = o.status?.rotation?.pendingOnDemand?.requestedAt;
        if (at) requestedAt.add(at);
      },
      () => undefined,
    );
    try {
      await f.patch('KmsKey', 'throttled-rotation', { spec: { rotation: { onDemandToken: 'once' } } });
      await f.waitFor<KmsKeyView>(
        'KmsKey',
        'throttled-rotation',
        (o) => (o.status?.rotation?.lastOnDemandToken === 'once' ? o : undefined),
        'token recorded',
        40_000,
      );
    } finally {
      watch.abort();
    }
    const calls = (await f.admin.calls({ service: 'kms', eventName: 'RotateKeyOnDemand' })).filter((c) =>
      JSON.stringify(c.requestParameters).includes(key.keyId),
    );
    expect(calls.filter((c) => c.errorCode === 'ThrottlingException')).toHaveLength(4);
    expect(calls.filter((c) => !c.errorCode)).toHaveLength(1);
    // The retry found its intent stored: one request time, so one intent write.
    expect([...requestedAt]).toHaveLength(1);
    const events = await f.events('throttled-rotation');
    expect(events.filter((e) => e.type === 'Warning')).toEqual([]);
  });
});

describe('deletion guard', () => {
  it('holds the KmsKey while a workload references it, then applies ScheduleDeletion', async () => {
    const key = await newKey();
    await f.create('KmsKey', 'guarded', {
      keyId: key.arn,
      deletionPolicy: 'ScheduleDeletion',
      pendingWindowInDays: 7,
    });
    await readyKey('guarded');
    await f.create('FlinkApplication', 'orders', {
      applicationName: 'orders',
      key: { kmsKeyRef: { name: 'guarded' } },
    });
    await f.waitFor<KmsKeyView>(
      'KmsKey',
      'guarded',
      (o) => (o.status?.usedBy?.some((r) => r.name === 'orders') ? o : undefined),
      'usedBy lists the workload',
    );

    await f.remove('KmsKey', 'guarded');
    const blocked = await f.waitFor('KmsKey', 'guarded', condition('DeletionBlocked', 'True', 'KeyInUse'));
    expect(blocked.message).toContain('FlinkApplication');
    const events = await f.events('guarded');
    expect(events.some((e) => e.reason === 'DeletionBlocked' && e.type === 'Warning')).toBe(true);
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.arn }))).KeyMetadata?.KeyState).toBe(
      'Enabled',
    );

    await f.remove('FlinkApplication', 'orders');
    const { eventually } = await import('./support/cluster.ts');
    await eventually(async () => ((await f.get('KmsKey', 'guarded')) === undefined ? true : undefined), {
      what: 'KmsKey released',
      timeoutMs: 20_000,
    });
    const described = await kms.send(new DescribeKeyCommand({ KeyId: key.arn }));
    expect(described.KeyMetadata?.KeyState).toBe('PendingDeletion');
  });

  it('Retain (the default) releases the object and leaves the key alone', async () => {
    const key = await newKey();
    await f.create('KmsKey', 'retained', { keyId: key.arn });
    await readyKey('retained');
    await f.remove('KmsKey', 'retained');
    const { eventually } = await import('./support/cluster.ts');
    await eventually(async () => ((await f.get('KmsKey', 'retained')) === undefined ? true : undefined), {
      what: 'released',
    });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: key.arn }))).KeyMetadata?.KeyState).toBe(
      'Enabled',
    );
  });
});

describe('out-of-band changes to a key in use', () => {
  it('a key disabled outside Kubernetes is reported at once with a Warning event', async () => {
    const key = await newKey();
    await f.create('KmsKey', 'oob-disabled', { keyId: key.arn });
    await readyKey('oob-disabled');
    await f.create('KeyspacesTable', 'oob-table', {
      keyspaceName: 'shop',
      tableName: 'orders',
      key: { kmsKeyRef: { name: 'oob-disabled' } },
    });
    await kms.send(new DisableKeyCommand({ KeyId: key.arn }));
    await f.waitFor('KmsKey', 'oob-disabled', condition('KeyUsable', 'False', 'KeyDisabled'));
    const { eventually } = await import('./support/cluster.ts');
    await eventually(
      async () =>
        (await f.events('oob-disabled')).some((e) => e.reason === 'KeyDisabledInUse') ? true : undefined,
      { what: 'Warning event' },
    );
  });

  it('with protection, a scheduled deletion is cancelled and the key enabled again', async () => {
    const key = await newKey();
    await f.create('KmsKey', 'protected', {
      keyId: key.arn,
      protection: { cancelDeletion: true, reenable: true },
    });
    await readyKey('protected');
    await f.create('EmrServerlessApplication', 'etl', {
      applicationId: '00fabc123def4567',
      key: { kmsKeyRef: { name: 'protected' } },
    });
    await f.waitFor<KmsKeyView>('KmsKey', 'protected', (o) => (o.status?.usedBy?.length ? o : undefined));
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.arn, PendingWindowInDays: 30 }));
    await keyEnabledAgain(key.arn);
    const { eventually } = await import('./support/cluster.ts');
    await eventually(
      async () => {
        const reasons = (await f.events('protected')).map((e) => e.reason);
        return ['KeyPendingDeletionInUse', 'KeyDeletionCancelled', 'KeyReenabled'].every((r) =>
          reasons.includes(r),
        )
          ? true
          : undefined;
      },
      { what: 'Warning events for the cancelled deletion' },
    );
    await readyKey('protected');
  });
});

describe('on-demand rotation limits', () => {
  it('a token refused by the per-key cap is recorded, reported, and never retried', {
    timeout: 240_000,
  }, async () => {
    await f.admin.patchConfig({ onDemandRotationCap: 1 });
    const key = await newKey();
    await f.create('KmsKey', 'capped', {
      keyId: key.arn,
      rotation: { enabled: false, onDemandToken: 'one' },
    });
    await f.waitFor<KmsKeyView>(
      'KmsKey',
      'capped',
      (o) => (o.status?.rotation?.lastOnDemandToken === 'one' && ready(o) ? o : undefined),
      'first rotation',
      90_000,
    );
    const current = (await f.get<{ spec: { rotation: Record<string, unknown> } } & Record<string, unknown>>(
      'KmsKey',
      'capped',
    ))!;
    current.spec.rotation['onDemandToken'] = 'two';
    const { adminIdentity } = await import('./support/cluster.ts');
    await adminIdentity().request(
      'PUT',
      `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/kmskeys/capped`,
      current,
    );
    const refused = await f.waitFor(
      'KmsKey',
      'capped',
      condition('RotationCurrent', 'False', 'OnDemandRotationLimitExceeded'),
      'refusal recorded',
      90_000,
    );
    expect(refused.message).toContain('two');
    // The SDK itself retries LimitExceededException (it classes it as throttling); the operator
    // must not: no new attempt during several resyncs after the refusal is recorded.
    const attemptsFor = async () =>
      (await f.admin.calls({ service: 'kms', eventName: 'RotateKeyOnDemand' })).filter((c) =>
        JSON.stringify(c.requestParameters).includes(key.keyId),
      );
    const afterRefusal = (await attemptsFor()).length;
    await new Promise((r) => setTimeout(r, 3500));
    const attempts = await attemptsFor();
    expect(attempts).toHaveLength(afterRefusal);
    expect(attempts.filter((c) => !c.errorCode)).toHaveLength(1);
    expect(attempts.slice(1).every((c) => c.errorCode === 'LimitExceededException')).toBe(true);
    expect(
      (await f.events('capped')).some((e) => e.reason === 'OnDemandRotationRefused' && e.type === 'Warning'),
    ).toBe(true);
    await f.admin.patchConfig({ onDemandRotationCap: 10 });
  });
});
