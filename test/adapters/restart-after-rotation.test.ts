// The two dates the restart-after-rotation decision rests on, read by the operator's own clients from
// the emulator: when a running Flink application started (flinkAdapter.observe, runningSince, MSF-025)
// and when its key's current material became current (keyMaterialSince, KMS-024); and whether a
// restart would lose the application's state (restartLosesState, MSF-026).

import {
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  StopApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { DescribeKeyCommand, RotateKeyOnDemandCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { flinkAdapter } from '../../src/aws/flink.ts';
import { keyMaterialSince } from '../../src/aws/key-material.ts';
import type { WorkloadId } from '../../src/aws/workload.ts';
import { useAdapters } from '../fixtures/aws.ts';
import { msfKeyActions, msfPrincipals, serviceKeyPolicy } from '../fixtures/keys.ts';
import { flinkApp, running, withKey } from '../fixtures/objects.ts';

const fixture = useAdapters();
const t0 = new Date(Date.UTC(2026, 10, 23, 12, 0, 0));
const at = (ms: number) => new Date(t0.getTime() + ms).toISOString();

async function observe(id: WorkloadId) {
  const state = await flinkAdapter.observe(fixture.clients, fixture.target, id);
  if (!state) throw new Error('expected the application to exist');
  return state;
}

async function currentMaterial(keyArn: string): Promise<string> {
  return (await fixture.kms().send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata!
    .CurrentKeyMaterialId!;
}

describe('flinkAdapter.observe: runningSince and restartLosesState', () => {
  it('a running application started when its newest successful start began, whoever called it', async () => {
    const id = fixture.seed(flinkApp('orders', running()));
    expect(await observe(id)).toMatchObject({ running: true, runningSince: at(0) });
    expect((await observe(id)).restartLosesState).toBeUndefined();

    // Someone else stops it: not running, no start time.
    const someoneElse = new KinesisAnalyticsV2Client(
      fixture.clientConfig({ accessKeyId: 'AKIASOMEONEELSE00001' }),
    );
    fixture.advance(60_000);
    await someoneElse.send(new StopApplicationCommand({ ApplicationName: 'orders' }));
    fixture.advance();
    const stopped = await observe(id);
    expect(stopped.running).toBe(false);
    expect(stopped.runningSince).toBeUndefined();

    // ... and starts it again: the new start counts.
    await someoneElse.send(new StartApplicationCommand({ ApplicationName: 'orders' }));
    fixture.advance();
    expect(await observe(id)).toMatchObject({ running: true, runningSince: at(61_000) });
  });

  it('a key switch on a running application restarts it: the UpdateApplication counts as its start', async () => {
    const key = await fixture.newKey(serviceKeyPolicy(msfPrincipals, msfKeyActions));
    const id = fixture.seed(flinkApp('switched', running()));
    fixture.advance(30_000);
    await flinkAdapter.changeKey(
      fixture.clients,
      fixture.target,
      id,
      { type: 'CustomerManaged', keyArn: key },
      await observe(id),
    );
    fixture.advance();
    expect(await observe(id)).toMatchObject({ running: true, runningSince: at(30_000) });
  });

  it('snapshots disabled: a restart would lose the running state', async () => {
    const doc = flinkApp('stateless', running());
    const app = { ...doc.kinesisanalytics.applications[0]!, snapshotsEnabled: false };
    const id = fixture.seed({ kinesisanalytics: { applications: [app] } });
    expect(await observe(id)).toMatchObject({ running: true, restartLosesState: true });
  });
});

describe('keyMaterialSince', () => {
  it('a key that never rotated is on its first material; a rotation dates the material it made current', async () => {
    const key = await fixture.newKey();
    const first = await currentMaterial(key);
    const kms = fixture.kms();
    expect(await keyMaterialSince(kms, key, first)).toEqual({ kind: 'original' });

    fixture.advance(3_600_000);
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: key }));
    fixture.advance(60_000);
    const rotated = await currentMaterial(key);
    const since = await keyMaterialSince(kms, key, rotated);
    expect(since?.kind).toBe('rotated');
    const date = since?.kind === 'rotated' ? Date.parse(since.date) : 0;
    expect(date).toBeGreaterThanOrEqual(t0.getTime() + 3_600_000);
    expect(date).toBeLessThanOrEqual(t0.getTime() + 3_660_000);
    // The older material still says when it was current from.
    expect(await keyMaterialSince(kms, key, first)).toEqual({ kind: 'original' });
  });

  it('a material KMS does not list is unknown, never taken for the first', async () => {
    const key = await fixture.newKey();
    expect(await keyMaterialSince(fixture.kms(), key, 'not-a-listed-material')).toBeUndefined();
  });

  it('an application seeded on a key after its rotation started after it', async () => {
    const key = await fixture.newKey();
    await fixture.kms().send(new RotateKeyOnDemandCommand({ KeyId: key }));
    fixture.advance(60_000);
    const id = fixture.seed(flinkApp('late', running(), withKey(key)));
    const since = await keyMaterialSince(fixture.kms(), key, await currentMaterial(key));
    const started = (await observe(id)).runningSince;
    expect(
      since?.kind === 'rotated' && started !== undefined && Date.parse(started) > Date.parse(since.date),
    ).toBe(true);
  });
});
