// kubectl cmk import's reading half against the emulator, through the operator's own SDK clients:
// every page of every listing, each resource through its adapter, each key once; every call paced;
// a listing or read that fails is reported and the rest still read; nothing but reads is sent.

import { CreateAliasCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { discoverFleet } from '../../src/cli/import-discovery.ts';
import { createPacer } from '../../src/keys/inventory.ts';
import { useAdapters } from '../fixtures/aws.ts';

const aws = useAdapters();
const account = '111122223333';

/** A pace that lets every call through at once, counting them. */
function countingPace() {
  const counter = { paced: 0, pace: async () => void counter.paced++ };
  return counter;
}

describe('discoverFleet', () => {
  it('reads every page of every listing, each resource through its adapter and each key once', async () => {
    const key = await aws.newKey();
    await aws.kms().send(new CreateAliasCommand({ AliasName: 'alias/ledger', TargetKeyId: key }));
    aws.emulator.seed({
      kinesisanalytics: {
        applications: Array.from({ length: 120 }, (_, i) => ({
          name: `app-${i}`,
          ...(i % 2 ? { keyId: key } : {}),
        })),
      },
      cassandra: {
        keyspaces: [{ name: 'ledger', tables: Array.from({ length: 130 }, (_, i) => ({ name: `t${i}` })) }],
      },
      'emr-serverless': {
        applications: Array.from({ length: 60 }, (_, i) => ({
          id: `00disc${String(i).padStart(10, '0')}`,
          name: `etl-${i}`,
          ...(i === 0
            ? { diskEncryption: { encryptionKeyArn: key, encryptionContext: { team: 'etl' } } }
            : {}),
        })),
      },
    });
    const counter = countingPace();
    const d = await discoverFleet(aws.clients, aws.target, { pace: counter.pace });
    expect(d.unreadable).toEqual([]);
    const byService = (s: string) => d.workloads.filter((w) => w.id.service === s);
    // 120 applications are three pages of 50, 130 tables two of 100, 60 EMR applications two of 50.
    expect(byService('ManagedFlink')).toHaveLength(120);
    expect(byService('Keyspaces')).toHaveLength(130);
    expect(byService('EmrServerless')).toHaveLength(60);
    const app1 = d.workloads.find((w) => w.id.service === 'ManagedFlink' && w.id.applicationName === 'app-1');
    expect(app1?.state.encryption).toEqual({ type: 'CustomerManaged', keyArn: key });
    expect(app1?.state.resourceArn).toBe(`arn:aws:kinesisanalytics:us-east-1:${account}:application/app-1`);
    const etl0 = d.workloads.find((w) => w.label === 'etl-0');
    expect(etl0?.state.encryption).toEqual({
      type: 'CustomerManaged',
      keyArn: key,
      encryptionContext: { team: 'etl' },
    });
    // One key, read once, with its alias.
    expect([...d.keys]).toEqual([
      [
        key,
        {
          kind: 'found',
          facts: expect.objectContaining({ arn: key, state: 'Enabled' }),
          aliases: ['alias/ledger'],
        },
      ],
    ]);
    // Every call waited for the pace, and every one was a read.
    expect(counter.paced).toBe(d.calls);
    const calls = await aws.admin.calls();
    expect(calls).toHaveLength(d.calls + 2); // + CreateKey and CreateAlias above
    expect(calls.slice(2).filter((c) => !/^(List|Describe|Get)/.test(c.eventName))).toEqual([]);
    expect(calls.filter((c) => c.eventName === 'DescribeKey')).toHaveLength(1);
  });

  it('a listing that fails is reported, the other services are still read', async () => {
    aws.emulator.seed({
      kinesisanalytics: { applications: [{ name: 'orders' }] },
      cassandra: { keyspaces: [{ name: 'shop', tables: [{ name: 'orders' }] }] },
    });
    await aws.admin.addFault({
      service: 'cassandra',
      operation: 'ListKeyspaces',
      error: { code: 'AccessDeniedException', status: 400, message: 'not allowed', rate: 1 },
    });
    const d = await discoverFleet(aws.clients, aws.target, countingPace());
    expect(d.unreadable).toEqual([
      { resource: 'keyspaces ListKeyspaces', reason: 'AccessDeniedException: not allowed' },
    ]);
    expect(d.workloads.map((w) => w.id)).toEqual([{ service: 'ManagedFlink', applicationName: 'orders' }]);
  });

  it('a resource that cannot be read is reported by name; a key that is no key reads as not found', async () => {
    aws.emulator.seed({
      kinesisanalytics: { applications: [{ name: 'orders' }, { name: 'payments' }] },
      'emr-serverless': {
        applications: [
          { id: '00badkey00000001', name: 'odd', diskEncryption: { encryptionKeyArn: 'not-a-key' } },
        ],
      },
    });
    await aws.admin.addFault({
      service: 'kinesisanalytics',
      operation: 'DescribeApplication',
      error: { code: 'AccessDeniedException', status: 400, message: 'no', rate: 1 },
      limit: 1,
    });
    const d = await discoverFleet(aws.clients, aws.target, { ...countingPace(), concurrency: 1 });
    expect(d.unreadable).toEqual([
      { kind: 'FlinkApplication', resource: 'orders', reason: 'AccessDeniedException: no' },
    ]);
    expect(d.workloads.map((w) => w.id.service).sort()).toEqual(['EmrServerless', 'ManagedFlink']);
    expect(d.keys.get('not-a-key')?.kind).not.toBe('found');
  });

  it('stops a listing at maxPages and says so, keeping what it listed', async () => {
    aws.emulator.seed({
      kinesisanalytics: { applications: Array.from({ length: 60 }, (_, i) => ({ name: `app-${i}` })) },
    });
    const d = await discoverFleet(aws.clients, aws.target, { ...countingPace(), maxPages: 1 });
    expect(d.workloads).toHaveLength(50);
    expect(d.unreadable).toEqual([
      {
        resource: 'kinesisanalyticsv2 ListApplications',
        reason: 'stopped after 1 pages: the rest was not listed',
      },
    ]);
  });
});

describe('createPacer', () => {
  it('gives one call slot per 1/rate seconds, shared by everyone awaiting it', async () => {
    let now = 1000;
    const slept: number[] = [];
    const pace = createPacer(
      10,
      () => now,
      async (ms) => {
        slept.push(ms);
      },
    );
    await Promise.all([pace(), pace(), pace()]);
    expect(slept).toEqual([100, 200]);
    now = 2000;
    await pace();
    expect(slept).toEqual([100, 200]);
  });

  it("hands the caller's signal to the wait, so a stopped scan does not wait out its slot", async () => {
    const signals: Array<AbortSignal | undefined> = [];
    const pace = createPacer(
      10,
      () => 1000,
      async (_ms, signal) => {
        signals.push(signal);
      },
    );
    const stop = new AbortController();
    await Promise.all([pace(stop.signal), pace(stop.signal)]);
    expect(signals).toEqual([stop.signal]);
  });
});
