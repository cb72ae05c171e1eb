// The key usage inventory's scan against the emulator, through the operator's own SDK clients: what
// AWS shows on each key (resources, snapshots, service grants), paginated, paced, incremental.

import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  StartSessionCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-emr-serverless';
import { CreateApplicationSnapshotCommand } from '@aws-sdk/client-kinesis-analytics-v2';
import { describe, expect, it } from 'vitest';
import { grantUsers, keyspacesTableOfGrant, type ScanResult, scanKeyUsers } from '../../src/aws/inventory.ts';
import { createRecentReads } from '../../src/aws/recent-reads.ts';
import { createKeyInventory, indexByKey, isKeyArn } from '../../src/keys/inventory.ts';
import { createKeyCache } from '../../src/keys/key-cache.ts';
import { silentLogger } from '../../src/runtime/log.ts';
import { useAdapters } from '../fixtures/aws.ts';
import { serviceKeyPolicy } from '../fixtures/keys.ts';
import {
  emrApp,
  flinkApp,
  inRegion,
  keyspacesTable,
  running,
  stopped,
  withKey,
} from '../fixtures/objects.ts';

const aws = useAdapters();
const account = '111122223333';

describe('scanKeyUsers', () => {
  it('finds every resource on a CMK in the Region, and nothing on the AWS owned key', async () => {
    const key = await aws.newKey();
    aws.seed(flinkApp('inv-orders', withKey(key)));
    aws.seed(flinkApp('inv-plain'));
    aws.seed(keyspacesTable('inv_ks', 'ledger', withKey(key)));
    aws.seed(keyspacesTable('inv_ks', 'plain'));
    aws.seed(emrApp('00finventory00001', 'inv-etl', withKey(key)));
    let calls = 0;
    const result = await scanKeyUsers(aws.clients, aws.target, { pace: async () => void calls++ });
    const onKey = result.users.filter((u) => u.keyRef === key).map((u) => [u.service, u.what, u.resourceArn]);
    expect(onKey).toEqual(
      expect.arrayContaining([
        [
          'ManagedFlink',
          'application',
          `arn:aws:kinesisanalytics:us-east-1:${account}:application/inv-orders`,
        ],
        ['Keyspaces', 'table', `arn:aws:cassandra:us-east-1:${account}:/keyspace/inv_ks/table/ledger`],
        ['EmrServerless', 'application', expect.stringContaining('/applications/00finventory00001')],
      ]),
    );
    expect(onKey).toHaveLength(3);
    expect(
      result.users.some((u) => u.resourceArn.endsWith('inv-plain') || u.resourceArn.endsWith('/plain')),
    ).toBe(false);
    expect(result.skipped).toEqual([]);
    // Every call went through the pace (the caller's rate limit).
    expect(calls).toBe(result.calls);
  });

  it('reports a snapshot under the key it was taken with', async () => {
    const key = await aws.newKey();
    aws.seed(flinkApp('inv-snapped', running(), withKey(key)));
    await aws.clients
      .flink(aws.target)
      .send(new CreateApplicationSnapshotCommand({ ApplicationName: 'inv-snapped', SnapshotName: 's1' }));
    await aws.advance(60_000);
    const result = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {} });
    expect(result.users).toContainEqual({
      service: 'ManagedFlink',
      what: 'snapshot',
      resourceArn: `arn:aws:kinesisanalytics:us-east-1:${account}:application/inv-snapped/snapshot/s1`,
      keyRef: key,
    });
  });

  it('an incremental pass does not read an unchanged application again, and carries its users over', async () => {
    const key = await aws.newKey();
    aws.seed(flinkApp('inv-stable', withKey(key)));
    const seen = new Map();
    const first = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, seen });
    const second = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, seen });
    const full = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, seen, full: true });
    const stable = (r: typeof first) =>
      r.users.filter((u) => u.resourceArn.endsWith('application/inv-stable'));
    expect(stable(second)).toEqual(stable(first));
    expect(second.calls).toBeLessThan(first.calls);
    expect(full.calls).toBe(first.calls);
  });

  it('reports a live interactive session with the disk key it asked for, and forgets it once it ended', async () => {
    const key = await aws.newKey(
      serviceKeyPolicy('emr-serverless.amazonaws.com', ['kms:GenerateDataKey', 'kms:Decrypt']),
    );
    const emr = aws.clients.emrServerless(aws.target);
    const { applicationId } = await emr.send(
      new CreateApplicationCommand({
        name: 'inv-notebooks',
        releaseLabel: 'emr-7.13.0',
        type: 'SPARK',
        interactiveConfiguration: { sessionEnabled: true },
      }),
    );
    await aws.advance(1000);
    const { sessionId, arn } = await emr.send(
      new StartSessionCommand({
        applicationId: applicationId!,
        executionRoleArn: `arn:aws:iam::${account}:role/emr-job`,
        configurationOverrides: {
          runtimeConfiguration: [
            {
              classification: 'spark-defaults',
              properties: { 'spark.emr-serverless.disk.encryptionKeyArn': key },
            },
          ],
        },
      }),
    );
    const sessionsOnKey = async () =>
      (await scanKeyUsers(aws.clients, aws.target, { pace: async () => {} })).users.filter(
        (u) => u.what === 'session' && u.keyRef === key,
      );
    expect(await sessionsOnKey()).toEqual([
      { service: 'EmrServerless', what: 'session', resourceArn: arn, keyRef: key },
    ]);
    await emr.send(new TerminateSessionCommand({ applicationId: applicationId!, sessionId: sessionId! }));
    await aws.advance(5000);
    expect(await sessionsOnKey()).toEqual([]);
  });

  it('takes a resource read by a workload reconcile since the pass began instead of reading it again', async () => {
    const key = await aws.newKey();
    const other = await aws.newKey();
    aws.seed(flinkApp('inv-shared', withKey(key)));
    aws.seed(keyspacesTable('inv_ks', 'shared', withKey(key)));
    aws.seed(emrApp('00fshared00000001', 'inv-shared', withKey(key)));
    const flinkArn = `arn:aws:kinesisanalytics:us-east-1:${account}:application/inv-shared`;
    const tableArn = `arn:aws:cassandra:us-east-1:${account}:/keyspace/inv_ks/table/shared`;
    const emrArn = `arn:aws:emr-serverless:us-east-1:${account}:/applications/00fshared00000001`;
    const reads = createRecentReads();
    // What the reconciles' reads answered: a key unlike AWS's, so the result shows where it came from.
    for (const arn of [flinkArn, tableArn, emrArn])
      reads.record(arn, { type: 'CustomerManaged', keyArn: other }, 2_000);
    const usersOf = (r: ScanResult) =>
      r.users.map((u) => [u.what, u.keyRef]).sort((a, b) => String(a).localeCompare(String(b)));

    const shared = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      recent: { reads, readsSince: 2_000 },
    });
    expect(usersOf(shared)).toEqual([
      ['application', other],
      ['application', other],
      ['table', other],
    ]);
    expect(shared.shared).toBe(3);
    expect(shared.oldestSharedRead).toBe(2_000);
    const names = (await aws.admin.calls()).map((c) => c.eventName);
    expect(names.filter((n) => /^(DescribeApplication|GetTable|GetApplication)$/.test(n))).toEqual([]);
    // The snapshots of a Flink application seen for the first time are still listed.
    expect(names).toContain('ListApplicationSnapshots');

    // Reads that began before the pass's bound are not taken: AWS is read.
    const own = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      recent: { reads, readsSince: 2_001 },
    });
    expect(usersOf(own)).toEqual([
      ['application', key],
      ['application', key],
      ['table', key],
    ]);
    expect(own.shared).toBe(0);
    expect(own.oldestSharedRead).toBeUndefined();
  });

  it('takes no read showing another version than the listing, and carries over only what a version vouches for', async () => {
    const key = await aws.newKey();
    const other = await aws.newKey();
    aws.seed(flinkApp('inv-versioned', withKey(key)));
    aws.seed(emrApp('00fversion0000001', 'inv-unversioned', withKey(key)));
    const flinkArn = `arn:aws:kinesisanalytics:us-east-1:${account}:application/inv-versioned`;
    const emrArn = `arn:aws:emr-serverless:us-east-1:${account}:/applications/00fversion0000001`;
    const listed = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {} });
    expect(listed.users.some((u) => u.resourceArn === flinkArn)).toBe(true);
    const describes = async () =>
      (await aws.admin.calls()).filter(
        (c) => c.eventName === 'DescribeApplication' || c.eventName === 'GetApplication',
      ).length;
    const keyOf = (r: ScanResult, arn: string) =>
      r.users.find((u) => u.resourceArn === arn && u.what === 'application')?.keyRef;

    // An answer from another version of the application (the listing shows 1) is not taken.
    const stale = createRecentReads();
    stale.record(flinkArn, { type: 'CustomerManaged', keyArn: other }, 2_000, '7');
    const before = await describes();
    const fresh = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      recent: { reads: stale, readsSince: 0 },
    });
    expect(keyOf(fresh, flinkArn)).toBe(key);
    expect((await describes()) - before).toBe(2);

    // Taken answers: the one whose version matches is carried over to the next pass; the one with no
    // version to compare (EMR Serverless) serves its pass only, and the next pass reads AWS.
    const reads = createRecentReads();
    reads.record(flinkArn, { type: 'CustomerManaged', keyArn: other }, 2_000, '1');
    reads.record(emrArn, { type: 'CustomerManaged', keyArn: other }, 2_000);
    const seen = new Map();
    const shared = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      seen,
      recent: { reads, readsSince: 0 },
    });
    expect([keyOf(shared, flinkArn), keyOf(shared, emrArn)]).toEqual([other, other]);
    const next = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, seen });
    expect([keyOf(next, flinkArn), keyOf(next, emrArn)]).toEqual([other, key]);
  });

  it("takes an EMR Serverless read at the listing's update time and carries it over (EMR-014)", async () => {
    const key = await aws.newKey();
    const other = await aws.newKey();
    aws.seed(emrApp('00fversion0000002', 'inv-emr-versioned', withKey(key)));
    const emrArn = `arn:aws:emr-serverless:us-east-1:${account}:/applications/00fversion0000002`;
    const app = await new EMRServerlessClient(aws.clientConfig()).send(
      new GetApplicationCommand({ applicationId: '00fversion0000002' }),
    );
    const updatedAt = app.application!.updatedAt!.toISOString();
    const keyOf = (r: ScanResult) =>
      r.users.find((u) => u.resourceArn === emrArn && u.what === 'application')?.keyRef;
    const gets = async () => (await aws.admin.calls({ eventName: 'GetApplication' })).length;

    // A read at another update time than the listing shows is not taken.
    const stale = createRecentReads();
    stale.record(emrArn, { type: 'CustomerManaged', keyArn: other }, 2_000, '2001-01-01T00:00:00.000Z');
    const before = await gets();
    const fresh = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      recent: { reads: stale, readsSince: 0 },
    });
    expect(keyOf(fresh)).toBe(key);
    expect((await gets()) - before).toBe(1);

    // One at the listed update time is taken, and the next pass carries it over without a read.
    const reads = createRecentReads();
    reads.record(emrArn, { type: 'CustomerManaged', keyArn: other }, 2_000, updatedAt);
    const seen = new Map();
    const shared = await scanKeyUsers(aws.clients, aws.target, {
      pace: async () => {},
      seen,
      recent: { reads, readsSince: 0 },
    });
    expect(keyOf(shared)).toBe(other);
    const reading = await gets();
    const next = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, seen });
    expect(keyOf(next)).toBe(other);
    expect((await gets()) - reading).toBe(0);
  });

  it('lists job runs and sessions only of started applications (EMR-010: none run otherwise)', async () => {
    aws.seed(emrApp('00fidle0000000001', 'inv-idle'));
    aws.seed(emrApp('00fstopped0000001', 'inv-stopped', stopped()));
    aws.seed(emrApp('00fstarted0000001', 'inv-started', running()));
    await scanKeyUsers(aws.clients, aws.target, { pace: async () => {} });
    // One application of the three is started: one listing of each.
    const listed = (await aws.admin.calls())
      .map((c) => c.eventName)
      .filter((n) => n === 'ListJobRuns' || n === 'ListSessions');
    expect(listed.sort()).toEqual(['ListJobRuns', 'ListSessions']);
  });

  it('stops listing at maxPages (a bound on one scan), and records each listing cut short as not read', async () => {
    const result = await scanKeyUsers(aws.clients, aws.target, { pace: async () => {}, maxPages: 0 });
    expect(result.users).toEqual([]);
    expect(result.calls).toBe(0);
    // Nothing seen is not "nothing there": the deletion guard holds on these (KeyInventory.gaps).
    expect(result.skipped.map((s) => s.where).sort()).toEqual([
      'emr-serverless ListApplications',
      'keyspaces ListKeyspaces',
      'kinesisanalyticsv2 ListApplications',
    ]);
    expect(result.skipped[0]?.reason).toContain('more than 0 pages');
  });
});

describe('grantUsers', () => {
  it('names the Keyspaces table behind each service grant on the key (KS-016)', async () => {
    const key = await aws.newKey();
    aws.seed(keyspacesTable('inv_grants', 'orders', withKey(key)));
    const users = await grantUsers(aws.clients, aws.target, key, { pace: async () => {} });
    const table = `arn:aws:cassandra:us-east-1:${account}:/keyspace/inv_grants/table/orders`;
    expect(users.length).toBeGreaterThanOrEqual(1);
    for (const u of users) {
      expect(u).toMatchObject({ service: 'Keyspaces', what: 'grant', keyRef: key });
      expect(u.resourceArn.startsWith(`${table} (grant `)).toBe(true);
    }
  });
});

describe('inventory helpers (pure)', () => {
  it.each([
    ['a key ARN', 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', true],
    ['a key id', '1234abcd-12ab-34cd-56ef-1234567890ab', false],
    ['an alias name', 'alias/orders', false],
    ['an alias ARN', 'arn:aws:kms:us-east-1:111122223333:alias/orders', false],
  ] as const)('isKeyArn: %s', (_name, ref, expected) => {
    expect(isKeyArn(ref)).toBe(expected);
  });

  it('indexes users by the key ARN their reference resolves to', async () => {
    const arn = 'arn:aws:kms:us-east-1:111122223333:key/k1';
    const byKey = await indexByKey(
      [
        { service: 'Keyspaces', what: 'table', resourceArn: 't1', keyRef: arn },
        { service: 'Keyspaces', what: 'table', resourceArn: 't2', keyRef: 'alias/orders' },
        { service: 'Keyspaces', what: 'table', resourceArn: 't3', keyRef: 'alias/unknown' },
      ],
      'us-east-1',
      5,
      async (ref) => (ref === 'alias/orders' ? arn : undefined),
    );
    expect(byKey.get(arn)?.map((u) => u.resourceArn)).toEqual(['t1', 't2']);
    // An unresolvable reference is kept under its own name, never dropped.
    expect(byKey.get('alias/unknown')?.map((u) => u.resourceArn)).toEqual(['t3']);
  });

  it('reads the table from a grant constraint, and nothing from a foreign one', () => {
    expect(
      keyspacesTableOfGrant(
        {
          'aws:cassandra:keyspaceName': 'ks',
          'aws:cassandra:tableName': 't',
          'aws:cassandra:subscriberId': account,
        },
        'eu-west-1',
      ),
    ).toBe(`arn:aws:cassandra:eu-west-1:${account}:/keyspace/ks/table/t`);
    expect(keyspacesTableOfGrant({ 'aws:s3:arn': 'x' }, 'eu-west-1')).toBeUndefined();
    expect(keyspacesTableOfGrant(undefined, 'eu-west-1')).toBeUndefined();
  });
});

describe('createKeyInventory: passes that fail, stop or cannot read everything', () => {
  const inventoryOf = () =>
    createKeyInventory(
      {
        aws: aws.clients,
        keys: createKeyCache(aws.clients, { ttlMs: 60_000 }),
        log: silentLogger(),
        now: Date.now,
      },
      { periodMs: 600_000, callsPerSecond: 1000, targets: () => [aws.target] },
    );
  const within = <T>(p: Promise<T>, ms: number) =>
    Promise.race([p.then(() => 'ended'), new Promise((r) => setTimeout(() => r('still waiting'), ms))]);

  it('a stop during a pass ends the periodic loop at once and records nothing of the cut pass', async () => {
    // The first listing answers slowly, so the stop comes while the pass is reading.
    await aws.admin.addFault({
      service: 'kinesisanalytics',
      operation: 'ListApplications',
      latencyMs: { min: 300, max: 300 },
    });
    try {
      const inventory = inventoryOf();
      const stop = new AbortController();
      const loop = inventory.start(stop.signal);
      await new Promise((r) => setTimeout(r, 50));
      stop.abort();
      // A refresh queued behind the cut pass still gets a pass of its own.
      const next = inventory.refresh(aws.target);
      // No period's wait (10 min here) is left to hold the process open after a SIGTERM.
      expect(await within(loop, 2_000)).toBe('ended');
      expect(inventory.lastPass(aws.target)).toBeUndefined(); // a partial listing never stands
      await next;
      expect(inventory.lastPass(aws.target)).toBeDefined();
      expect(inventory.gaps(aws.target)).toEqual([]);
    } finally {
      await aws.admin.clearFaults();
    }
  });

  it('a stop while the pass reads resource by resource makes no further call and ends the loop at once', async () => {
    // In a Region of their own, so the other tests' passes do not read them.
    const target = { region: 'ap-south-2' };
    for (let i = 0; i < 30; i++) aws.seed(flinkApp(`inv-stop-${i}`, inRegion(target.region)));
    // 20 calls a second: the ~60 reads of these applications alone take three seconds.
    const inventory = createKeyInventory(
      {
        aws: aws.clients,
        keys: createKeyCache(aws.clients, { ttlMs: 60_000 }),
        log: silentLogger(),
        now: Date.now,
      },
      { periodMs: 600_000, callsPerSecond: 20, targets: () => [target] },
    );
    const reads = async () =>
      (await aws.admin.calls({ service: 'kinesisanalytics' })).filter((c) =>
        ['DescribeApplication', 'ListApplicationSnapshots'].includes(c.eventName),
      ).length;
    const before = await reads();
    const stop = new AbortController();
    const loop = inventory.start(stop.signal);
    // Past the listing, into the per-application reads.
    for (let waited = 0; (await reads()) - before < 4; waited += 50) {
      expect(waited, 'the pass reads applications one by one').toBeLessThan(5_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.abort();
    // The stop does not wait out the rest of the Region at the paced rate.
    expect(await within(loop, 300)).toBe('ended');
    const atStop = await reads(); // at most the one call in flight at the stop
    await new Promise((r) => setTimeout(r, 600)); // a dozen slots at 20 a second
    expect(await reads()).toBe(atStop);
    expect(inventory.lastPass(target)).toBeUndefined();
  });

  it('names what a pass could not read (a gap), until a pass reads it', async () => {
    const inventory = inventoryOf();
    await aws.admin.addFault({
      service: 'cassandra',
      operation: 'ListKeyspaces',
      error: { code: 'AccessDeniedException', status: 400, message: 'not allowed', rate: 1 },
    });
    try {
      await inventory.refresh(aws.target);
      expect(inventory.lastPass(aws.target)).toBeDefined();
      expect(inventory.gaps(aws.target)).toEqual([
        { where: 'keyspaces ListKeyspaces', reason: expect.stringContaining('AccessDeniedException') },
      ]);
    } finally {
      await aws.admin.clearFaults();
    }
    await inventory.refresh(aws.target);
    expect(inventory.gaps(aws.target)).toEqual([]);
  });

  it('a listing that keeps failing past the SDK retries is a gap too', async () => {
    const inventory = inventoryOf();
    await aws.admin.addFault({ service: 'emr-serverless', operation: 'ListApplications', throttleRate: 1 });
    try {
      await inventory.refresh(aws.target);
    } finally {
      await aws.admin.clearFaults();
    }
    expect(inventory.gaps(aws.target)).toEqual([
      { where: 'emr-serverless ListApplications', reason: expect.stringContaining('Throttling') },
    ]);
  });
});

describe('createKeyInventory with the workload reconciles reads', () => {
  const setUp = async () => {
    const key = await aws.newKey();
    const other = await aws.newKey();
    aws.seed(keyspacesTable('inv_ks', 'pass', withKey(key)));
    const tableArn = `arn:aws:cassandra:us-east-1:${account}:/keyspace/inv_ks/table/pass`;
    let clock = 1_000_000;
    const reads = createRecentReads();
    const inventory = createKeyInventory(
      {
        aws: aws.clients,
        keys: createKeyCache(aws.clients, { ttlMs: 60_000 }),
        recentReads: reads,
        log: silentLogger(),
        now: () => clock,
        // The clock stands still: the pacer's waits (a millisecond at most) end at once, and the
        // periodic loop makes one pass, then waits its period until the test stops it.
        sleep: (ms, signal) =>
          new Promise((r) =>
            ms < 600_000 || !signal ? setImmediate(r) : signal.addEventListener('abort', () => r()),
          ),
      },
      { periodMs: 600_000, callsPerSecond: 1000, sharedReadMaxAgeMs: 60_000, targets: () => [aws.target] },
    );
    const onTable = (keyArn: string) =>
      (inventory.usersOf(aws.target, keyArn) ?? []).filter((u) => u.resourceArn === tableArn).length;
    return {
      key,
      other,
      tableArn,
      reads,
      inventory,
      onTable,
      tick: (ms: number) => (clock += ms),
      now: () => clock,
    };
  };

  it('a periodic pass takes a read up to its maximum age, and counts as started when that read began', async () => {
    const t = await setUp();
    // A reconcile read the table 30 s ago (its answer names `other`, unlike AWS, to show the source).
    t.reads.record(t.tableArn, { type: 'CustomerManaged', keyArn: t.other }, t.now() - 30_000);
    const stop = new AbortController();
    t.inventory.start(stop.signal);
    // A pass reads every resource the file's tests seeded in the Region: on a loaded machine, seconds.
    await expect.poll(() => t.inventory.lastPass(aws.target), { timeout: 15_000 }).toBeDefined();
    stop.abort();
    expect(t.onTable(t.other)).toBe(1);
    expect(t.onTable(t.key)).toBe(0);
    // The pass reported a read from 30 s before it began: a caller content with a pass at most 20 s
    // old gets a new one, which reads AWS (the request is later than the shared read).
    t.tick(1_000);
    await t.inventory.refresh(aws.target, undefined, { maxAgeMs: 20_000 });
    expect(t.onTable(t.key)).toBe(1);
    expect(t.onTable(t.other)).toBe(0);
  });

  it('a periodic pass queued behind another measures the age of the reads it takes from its own start', async () => {
    const t = await setUp();
    // A reconcile's read at the request: the refresh's pass takes it.
    t.reads.record(t.tableArn, { type: 'CustomerManaged', keyArn: t.other }, t.now());
    const first = t.inventory.refresh(aws.target);
    await Promise.resolve(); // the refresh's pass is now running
    const stop = new AbortController();
    t.inventory.start(stop.signal); // the periodic pass waits behind it
    // Two minutes pass before it starts: the read is then 120 s old, past the 60 s bound.
    t.tick(120_000);
    await first;
    expect(t.onTable(t.other)).toBe(1);
    await expect.poll(() => t.onTable(t.key), { timeout: 15_000 }).toBe(1);
    stop.abort();
  });

  it('a pass asked for by refresh takes only reads that began after the request', async () => {
    const t = await setUp();
    t.reads.record(t.tableArn, { type: 'CustomerManaged', keyArn: t.other }, t.now() - 1);
    await t.inventory.refresh(aws.target);
    expect(t.onTable(t.key)).toBe(1);
    // A read after the request serves the next one.
    t.tick(1_000);
    const request = t.inventory.refresh(aws.target);
    t.reads.record(t.tableArn, { type: 'CustomerManaged', keyArn: t.other }, t.now());
    await request;
    expect(t.onTable(t.other)).toBe(1);
  });
});
