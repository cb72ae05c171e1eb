// What the emulator shows about when a Flink application started and when its key's material became
// current, through the real SDK clients: every StartApplication/StopApplication, whoever called it, is
// an operation with its StartTime on the emulator clock (MSF-025); ListKeyRotations dates rotations on
// that clock and lists the key's first material (KMS-024); snapshots can be turned off (MSF-026).

import {
  CreateApplicationCommand,
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  ListApplicationOperationsCommand,
  StartApplicationCommand,
  StopApplicationCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  KMSClient,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../fixtures/emulator.ts';
import { flinkApp, running, withKey } from '../fixtures/objects.ts';

const fixture = useEmulator();
const t0 = Date.UTC(2026, 10, 23, 12, 0, 0);

const flink = (accessKeyId?: string) =>
  new KinesisAnalyticsV2Client(fixture.clientConfig(accessKeyId ? { accessKeyId } : {}));
const kms = () => new KMSClient(fixture.clientConfig());
const advance = (ms: number) => fixture.admin.advance({ ms });

async function operations(name: string) {
  const out = await flink().send(new ListApplicationOperationsCommand({ ApplicationName: name }));
  return (out.ApplicationOperationInfoList ?? []).map((o) => ({
    operation: o.Operation,
    status: o.OperationStatus,
    start: o.StartTime?.getTime(),
    end: o.EndTime?.getTime(),
  }));
}

async function snapshotsEnabled(name: string) {
  const out = await flink().send(new DescribeApplicationCommand({ ApplicationName: name }));
  return out.ApplicationDetail?.ApplicationConfigurationDescription
    ?.ApplicationSnapshotConfigurationDescription?.SnapshotsEnabled;
}

async function emulatedSnapshots(name: string): Promise<unknown[]> {
  const state = (await fixture.admin.state())['kinesisanalytics'] as {
    applications: Array<{ name: string; snapshots: unknown[] }>;
  };
  return state.applications.find((a) => a.name === name)!.snapshots;
}

describe('MSF operation history (MSF-025)', () => {
  it('a seeded RUNNING application shows the StartApplication that got it running, at the seed time', async () => {
    fixture.emulator.seed(flinkApp('seeded', running()));
    expect(await operations('seeded')).toEqual([
      { operation: 'StartApplication', status: 'SUCCESSFUL', start: t0, end: t0 },
    ]);
    fixture.emulator.seed(flinkApp('idle'));
    expect(await operations('idle')).toEqual([]);
  });

  it('a stop and a start by another caller are listed newest first with their times on the emulator clock', async () => {
    fixture.emulator.seed(flinkApp('orders', running()));
    await advance(60_000);
    const someoneElse = flink('AKIASOMEONEELSE00001');
    await someoneElse.send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    await advance(60_000);
    await someoneElse.send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    await advance(1000);
    expect(await operations('orders')).toEqual([
      { operation: 'StartApplication', status: 'SUCCESSFUL', start: t0 + 121_000, end: t0 + 122_000 },
      { operation: 'StopApplication', status: 'SUCCESSFUL', start: t0 + 60_000, end: t0 + 61_000 },
      { operation: 'StartApplication', status: 'SUCCESSFUL', start: t0, end: t0 },
    ]);
  });
});

describe('ListKeyRotations dates (KMS-024)', () => {
  it('lists the first material undated and each rotation dated on the emulator clock, the current one among them', async () => {
    const key = (await kms().send(new CreateKeyCommand({}))).KeyMetadata!;
    const list = async (all: boolean) =>
      (
        await kms().send(
          new ListKeyRotationsCommand({
            KeyId: key.Arn!,
            ...(all ? { IncludeKeyMaterial: 'ALL_KEY_MATERIAL' as const } : {}),
          }),
        )
      ).Rotations ?? [];
    expect(await list(true)).toEqual([
      expect.objectContaining({ KeyMaterialId: key.CurrentKeyMaterialId, KeyMaterialState: 'CURRENT' }),
    ]);
    expect((await list(true))[0]?.RotationDate).toBeUndefined();
    expect(await list(false)).toEqual([]);

    await advance(3_600_000);
    await kms().send(new RotateKeyOnDemandCommand({ KeyId: key.Arn! }));
    await advance(60_000);
    const current = (await kms().send(new DescribeKeyCommand({ KeyId: key.Arn! }))).KeyMetadata!
      .CurrentKeyMaterialId;
    expect(current).not.toBe(key.CurrentKeyMaterialId);
    const rotation = (await list(false)).find((r) => r.KeyMaterialId === current);
    expect(rotation?.RotationType).toBe('ON_DEMAND');
    const date = rotation?.RotationDate?.getTime() ?? 0;
    // Completed after the request, on the emulator's (frozen, advanced) clock, not the wall clock.
    expect(date).toBeGreaterThanOrEqual(t0 + 3_600_000);
    expect(date).toBeLessThanOrEqual(t0 + 3_660_000);
  });
});

describe('snapshots turned off (MSF-026)', () => {
  it('CreateApplication can turn them off; DescribeApplication reports it; the default is on', async () => {
    for (const [name, enabled] of [
      ['off', false],
      ['on', undefined],
    ] as const) {
      await flink().send(
        new CreateApplicationCommand({
          ApplicationName: name,
          RuntimeEnvironment: 'FLINK-1_20',
          ServiceExecutionRole: 'arn:aws:iam::111122223333:role/flink-exec',
          ...(enabled === undefined
            ? {}
            : {
                ApplicationConfiguration: {
                  ApplicationSnapshotConfiguration: { SnapshotsEnabled: enabled },
                },
              }),
        }),
      );
    }
    expect(await snapshotsEnabled('off')).toBe(false);
    expect(await snapshotsEnabled('on')).toBe(true);
  });

  it('without snapshots a stop takes none and needs no usable key; UpdateApplication turns them back on', async () => {
    const key = (await kms().send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    fixture.emulator.seed({
      kinesisanalytics: {
        applications: [
          {
            ...flinkApp('stateless', running(), withKey(key)).kinesisanalytics.applications[0]!,
            snapshotsEnabled: false,
          },
        ],
      },
    });
    expect(await snapshotsEnabled('stateless')).toBe(false);
    // A graceful stop with snapshots on needs the key for its snapshot; with them off it does not.
    await kms().send(new DisableKeyCommand({ KeyId: key }));
    await flink().send(new StopApplicationCommand({ ApplicationName: 'stateless' }));
    await advance(1000);
    expect((await operations('stateless'))[0]).toMatchObject({
      operation: 'StopApplication',
      status: 'SUCCESSFUL',
    });
    expect(await emulatedSnapshots('stateless')).toEqual([]);

    const version = (await flink().send(new DescribeApplicationCommand({ ApplicationName: 'stateless' })))
      .ApplicationDetail!.ApplicationVersionId!;
    await flink().send(
      new UpdateApplicationCommand({
        ApplicationName: 'stateless',
        CurrentApplicationVersionId: version,
        ApplicationConfigurationUpdate: {
          ApplicationSnapshotConfigurationUpdate: { SnapshotsEnabledUpdate: true },
        },
      }),
    );
    await advance(1000);
    expect(await snapshotsEnabled('stateless')).toBe(true);
  });
});
