// Restart after rotation, decided on dates (MSF-025, KMS-024): a Flink application with
// restartAfterRotation: Auto is restarted exactly when it started before its key's current material
// became current. Someone else restarting it after a rotation leaves the operator nothing to do, even
// once its maintenance window opens; a rotation that happened before the operator first saw the
// application is still answered with a restart. The emulator's call log says who stopped what.

import {
  DescribeApplicationCommand,
  KinesisAnalyticsV2Client,
  StartApplicationCommand,
  StopApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { beforeAll, describe, expect, it } from 'vitest';
import { flinkApp, running, withKey } from '../fixtures/objects.ts';
import { adminIdentity, eventually } from './support/cluster.ts';
import { condition, useOperator } from './support/operator.ts';

const resyncMs = 1500;
const f = useOperator({ resyncMs });
const operatorAccessKey = 'AKIAOPERATOR00000001';
/** Someone else: another caller of the same account (the fixture's tester credentials). */
let someoneElse: KinesisAnalyticsV2Client;
beforeAll(() => {
  someoneElse = new KinesisAnalyticsV2Client(f.awsConfig());
});

interface KeyStatus {
  status?: { currentKeyMaterialId?: string; rotation?: { lastOnDemandToken?: string } };
}
type Spec = Record<string, unknown>;

async function putSpec(kind: string, plural: string, name: string, change: (spec: Spec) => void) {
  const o = (await f.get<{ spec: Spec } & Record<string, unknown>>(kind, name))!;
  change(o.spec);
  const res = await adminIdentity().request(
    'PUT',
    `/apis/cmk.io/v1alpha1/namespaces/${f.namespace}/${plural}/${name}`,
    o,
  );
  if (res.status !== 200)
    throw new Error(`update ${kind}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Rotates the KmsKey's key on demand; resolves once the key reports new material. */
async function rotate(keyName: string, token: string): Promise<void> {
  const before = (await f.get<KeyStatus>('KmsKey', keyName))?.status?.currentKeyMaterialId;
  await putSpec('KmsKey', 'kmskeys', keyName, (spec) => {
    spec['rotation'] = { ...(spec['rotation'] as object), onDemandToken: token };
  });
  await f.waitFor<KeyStatus, KeyStatus>(
    'KmsKey',
    keyName,
    (k) =>
      k.status?.rotation?.lastOnDemandToken === token && k.status.currentKeyMaterialId !== before
        ? k
        : undefined,
    `${keyName} rotated`,
    30_000,
  );
}

async function applicationStatus(name: string): Promise<string | undefined> {
  const out = await someoneElse.send(new DescribeApplicationCommand({ ApplicationName: name }));
  return out.ApplicationDetail?.ApplicationStatus;
}

async function untilStatus(name: string, status: string): Promise<void> {
  await eventually(async () => ((await applicationStatus(name)) === status ? true : undefined), {
    what: `${name} ${status}`,
    timeoutMs: 20_000,
  });
}

/** The StopApplication calls the operator made for `name`. */
async function operatorStops(name: string) {
  return (await f.admin.calls({ eventName: 'StopApplication' })).filter(
    (c) =>
      c.userIdentity.accessKeyId === operatorAccessKey &&
      JSON.stringify(c.requestParameters).includes(`"${name}"`),
  );
}

/** A daily maintenance window that opened 12 hours ago and is closed now. */
function closedWindow() {
  const hour = (new Date().getUTCHours() + 12) % 24;
  return { start: `${String(hour).padStart(2, '0')}:00`, durationMinutes: 60 };
}

describe('restart after rotation, decided on dates', () => {
  it('an application someone else restarted after the rotation is not restarted again', async () => {
    const keyArn = await f.serviceKey('rar-restarted');
    f.emulator.seed(flinkApp('rar-restarted', running(), withKey(keyArn)));
    await f.create('FlinkApplication', 'rar-restarted', {
      applicationName: 'rar-restarted',
      restartAfterRotation: 'Auto',
      maintenanceWindow: closedWindow(),
      key: { kmsKeyRef: { name: 'rar-restarted' } },
    });
    await f.waitFor(
      'FlinkApplication',
      'rar-restarted',
      condition('MaterialCurrent', 'True', 'CurrentMaterial'),
      'on the current material',
    );

    // The key rotates; the operator would restart, but its window is closed.
    await rotate('rar-restarted', 'r1');
    await f.waitFor(
      'FlinkApplication',
      'rar-restarted',
      condition('MaterialCurrent', 'False', 'WaitingForMaintenanceWindow'),
      'restart waits for the window',
      30_000,
    );

    // Someone else stops and starts the application meanwhile: it runs on the new material now.
    await someoneElse.send(new StopApplicationCommand({ ApplicationName: 'rar-restarted' }));
    await untilStatus('rar-restarted', 'READY');
    await someoneElse.send(new StartApplicationCommand({ ApplicationName: 'rar-restarted' }));
    await untilStatus('rar-restarted', 'RUNNING');
    await f.waitFor(
      'FlinkApplication',
      'rar-restarted',
      condition('MaterialCurrent', 'True', 'CurrentMaterial'),
      'the restart by someone else is seen',
      30_000,
    );

    // The window opens (removed): still nothing to restart, over several resyncs.
    await putSpec('FlinkApplication', 'flinkapplications', 'rar-restarted', (spec) => {
      delete spec['maintenanceWindow'];
    });
    await new Promise((r) => setTimeout(r, 4 * resyncMs));
    const o = await f.get<{ status?: { restartPending?: boolean; pendingStart?: boolean } }>(
      'FlinkApplication',
      'rar-restarted',
    );
    expect(condition('MaterialCurrent', 'True', 'CurrentMaterial')(o as never)).toBeDefined();
    expect(o?.status?.restartPending).toBe(false);
    expect(await operatorStops('rar-restarted')).toEqual([]);
    expect(await applicationStatus('rar-restarted')).toBe('RUNNING');
  });

  it('a rotation before the operator first saw the application is answered with a restart', async () => {
    const keyArn = await f.serviceKey('rar-early');
    f.emulator.seed(flinkApp('rar-early', running(), withKey(keyArn)));
    // Rotated after the application started, before any FlinkApplication names it.
    await rotate('rar-early', 'r1');
    await f.create('FlinkApplication', 'rar-early', {
      applicationName: 'rar-early',
      restartAfterRotation: 'Auto',
      key: { kmsKeyRef: { name: 'rar-early' } },
    });
    await eventually(async () => ((await operatorStops('rar-early')).length > 0 ? true : undefined), {
      what: 'the operator stops rar-early',
      timeoutMs: 30_000,
    });
    await f.waitFor(
      'FlinkApplication',
      'rar-early',
      condition('MaterialCurrent', 'True', 'CurrentMaterial'),
      'restarted onto the current material',
      40_000,
    );
    expect(await applicationStatus('rar-early')).toBe('RUNNING');
    expect(await operatorStops('rar-early')).toHaveLength(1);
    const events = (await f.events('rar-early')).map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['Stopping', 'Starting']));
  });
});
