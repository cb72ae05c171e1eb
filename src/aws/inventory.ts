// What AWS itself says uses KMS keys, in one account and Region: the resources of the three services
// with their configured key, Managed Flink snapshots with the key they were taken under, EMR
// Serverless job runs still active with a job-level key, and a key's KMS grants (Keyspaces holds two
// per table, recognisable by their encryption-context constraints, KS-016), and EMR Serverless
// interactive sessions still alive with the disk key they asked for. Read-only; every call is
// paginated and goes through the quota-aware `pace` the caller gives, so a scan of a large account
// never competes with the reconciles for the services' request quotas.
//
// A resource names its key however it was configured (key ARN, key id, alias): the scan reports it
// as named (`keyRef`); the caller resolves it to a key ARN (src/keys/inventory.ts).

import {
  GetApplicationCommand,
  GetJobRunCommand,
  ListApplicationsCommand as ListEmrApplicationsCommand,
  ListJobRunsCommand,
  ListSessionsCommand,
} from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, ListKeyspacesCommand, ListTablesCommand } from '@aws-sdk/client-keyspaces';
import {
  DescribeApplicationCommand,
  ListApplicationSnapshotsCommand,
  ListApplicationsCommand as ListFlinkApplicationsCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import type { AwsClients, AwsTarget } from './clients.ts';
import { emrEncryption, getSession } from './emr-serverless.ts';
import { AwsCallError, awsCall } from './errors.ts';
import { flinkEncryption } from './flink.ts';
import { iso, text } from './guards.ts';
import { keyspacesEncryption } from './keyspaces.ts';
import type { RecentReads } from './recent-reads.ts';
import type { EncryptionSetting, WorkloadService } from './workload.ts';

/** One thing AWS shows using a key. */
export interface AwsKeyUser {
  service: WorkloadService;
  /** What it is: the resource itself, a snapshot or backup of it, an active job run, a KMS grant. */
  what: 'application' | 'table' | 'snapshot' | 'jobRun' | 'session' | 'grant';
  /** The resource (for a snapshot or grant: the resource it belongs to, with a suffix naming it). */
  resourceArn: string;
  /** The key as the resource names it (ARN, key id or alias). */
  keyRef: string;
}

export interface ScanOptions {
  /**
   * Waits for a call slot (the caller's rate limit); resolves when the call may go, or early when
   * the signal it is given aborts.
   */
  pace(signal?: AbortSignal): Promise<void>;
  /** Stops the scan: no call is made once it aborts, and the scan rejects with its reason. */
  signal?: AbortSignal;
  /** Pages per listing at most (a bound on one scan). Default 100. */
  maxPages?: number;
  /**
   * Incremental pass: what an earlier pass saw per resource, by a version AWS lists with it (MSF
   * ApplicationVersionId, EMR updatedAt). A resource whose version did not change is not read again;
   * its users are carried over. Filled in as the scan goes (pass a new map to start over).
   */
  seen?: Map<string, { version: string; users: AwsKeyUser[] }>;
  /** Read every resource even when its version did not change (a full pass). */
  full?: boolean;
  /**
   * Reads the workload reconciles made (src/aws/recent-reads.ts): a resource read at or after
   * `readsSince` is taken from here instead of being read again. Its listing and, for a Managed
   * Flink application whose version changed, its snapshots are still read. A read showing another
   * version than the listing is not taken; one without a version to compare (EMR Serverless,
   * Keyspaces) serves this pass only: `seen` keeps only what a version vouches for, so an answer
   * older than the listing is never carried over to the next passes.
   */
  recent?: { reads: Pick<RecentReads, 'since'>; readsSince: number };
}

/** The result of a scan: the users seen and what could not be read (skipped, reported, never fatal). */
export interface ScanResult {
  users: AwsKeyUser[];
  calls: number;
  /** Resources whose key came from a workload reconcile's read (no call of the scan's own). */
  shared: number;
  /** When the oldest of those reads began; undefined when none was used. */
  oldestSharedRead?: number;
  /** Resources or listings that failed, with AWS's words: the scan is incomplete for those. */
  skipped: Array<{ where: string; reason: string }>;
}

/**
 * Waits for the next call slot, unless the scan is stopped: then (before or during the wait) it
 * throws the signal's reason, so a pass stopped half-way makes no further call. Every call of a
 * scan takes its slot here: a stop must not wait out the rest of a Region at the paced rate (at 5
 * calls a second, minutes for a thousand resources) before the process can exit.
 */
async function callSlot(options: Pick<ScanOptions, 'pace' | 'signal'>): Promise<void> {
  options.signal?.throwIfAborted();
  await options.pace(options.signal);
  options.signal?.throwIfAborted();
}

/**
 * Collects every page of a token-paginated listing, bounded by maxPages. A listing longer than the
 * bound throws (the caller records it as not read): its tail is never taken for the whole.
 */
async function pages<T>(
  options: ScanOptions,
  count: () => void,
  page: (token: string | undefined) => Promise<{ items: T[]; next: string | undefined }>,
): Promise<T[]> {
  const all: T[] = [];
  const maxPages = options.maxPages ?? 100;
  let token: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    await callSlot(options);
    count();
    const { items, next } = await page(token);
    all.push(...items);
    if (!next) return all;
    token = next;
  }
  throw new Error(`more than ${maxPages} pages (the bound of one scan): the rest was not read`);
}

/** Scans the three services in `target` for resources, snapshots and active job runs on a CMK. */
export async function scanKeyUsers(
  clients: AwsClients,
  target: AwsTarget,
  options: ScanOptions,
): Promise<ScanResult> {
  const result: ScanResult = { users: [], calls: 0, shared: 0, skipped: [] };
  const count = () => {
    result.calls += 1;
  };
  /** Runs one read; a failure is recorded as skipped (with AWS's words), never thrown. */
  const guarded = async (where: string, read: () => Promise<void>) => {
    try {
      await read();
    } catch (e) {
      if (options.signal?.aborted) throw e;
      const reason = e instanceof AwsCallError ? `${e.failure.code}: ${e.failure.message}` : String(e);
      result.skipped.push({ where, reason });
    }
  };
  /** Whether an unchanged resource's users were carried over from the earlier pass (then skip it). */
  const carriedOver = (arn: string, version: string): boolean => {
    const earlier = options.seen?.get(arn);
    if (options.full || !version || !earlier || earlier.version !== version) return false;
    result.users.push(...earlier.users);
    return true;
  };
  const remember = (arn: string, version: string, users: AwsKeyUser[]) => {
    if (version) options.seen?.set(arn, { version, users });
  };
  /**
   * The resource's encryption from a workload reconcile's read recent enough, if there is one and it
   * does not contradict the version the listing shows; `vouched` when that version matches.
   */
  const sharedRead = (
    arn: string,
    listedVersion?: string,
  ): { encryption: EncryptionSetting; vouched: boolean } | undefined => {
    const recent = arn ? options.recent?.reads.since(arn, options.recent.readsSince) : undefined;
    if (!recent) return undefined;
    if (recent.version !== undefined && listedVersion && recent.version !== listedVersion) return undefined;
    result.shared += 1;
    result.oldestSharedRead = Math.min(result.oldestSharedRead ?? recent.at, recent.at);
    return {
      encryption: recent.encryption,
      vouched: recent.version !== undefined && recent.version === listedVersion,
    };
  };
  const read = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    await callSlot(options);
    count();
    return awsCall(operation, call);
  };

  // Managed Service for Apache Flink: applications and their snapshots (a restore needs the key
  // the snapshot was taken under, MSF-015).
  const flink = clients.flink(target);
  await guarded('kinesisanalyticsv2 ListApplications', async () => {
    const apps = await pages(options, count, async (token) => {
      const out = await awsCall('ListApplications', () =>
        flink.send(new ListFlinkApplicationsCommand({ Limit: 50, ...(token ? { NextToken: token } : {}) })),
      );
      return { items: out.ApplicationSummaries ?? [], next: text(out.NextToken) };
    });
    for (const summary of apps) {
      const name = text(summary.ApplicationName);
      const arn = text(summary.ApplicationARN) ?? '';
      if (!name) continue;
      const version = String(summary.ApplicationVersionId ?? '');
      if (carriedOver(arn, version)) continue;
      const before = result.users.length;
      await guarded(`application ${name}`, async () => {
        const shared = sharedRead(arn, version);
        const enc =
          shared?.encryption ??
          flinkEncryption(
            (
              await read('DescribeApplication', () =>
                flink.send(new DescribeApplicationCommand({ ApplicationName: name })),
              )
            ).ApplicationDetail?.ApplicationConfigurationDescription
              ?.ApplicationEncryptionConfigurationDescription,
          );
        if (enc.type === 'CustomerManaged' && enc.keyArn)
          result.users.push({
            service: 'ManagedFlink',
            what: 'application',
            resourceArn: arn,
            keyRef: enc.keyArn,
          });
        const snapshots = await pages(options, count, async (token) => {
          const s = await awsCall('ListApplicationSnapshots', () =>
            flink.send(
              new ListApplicationSnapshotsCommand({
                ApplicationName: name,
                Limit: 50,
                ...(token ? { NextToken: token } : {}),
              }),
            ),
          );
          return { items: s.SnapshotSummaries ?? [], next: text(s.NextToken) };
        });
        for (const snap of snapshots) {
          const snapEnc = flinkEncryption(snap.ApplicationEncryptionConfigurationDescription);
          if (snapEnc.type === 'CustomerManaged' && snapEnc.keyArn)
            result.users.push({
              service: 'ManagedFlink',
              what: 'snapshot',
              resourceArn: `${arn}/snapshot/${text(snap.SnapshotName) ?? ''}`,
              keyRef: snapEnc.keyArn,
            });
        }
        if (!shared || shared.vouched) remember(arn, version, result.users.slice(before));
      });
    }
  });

  // Amazon Keyspaces: every table of every keyspace.
  const keyspaces = clients.keyspaces(target);
  await guarded('keyspaces ListKeyspaces', async () => {
    const spaces = await pages(options, count, async (token) => {
      const out = await awsCall('ListKeyspaces', () =>
        keyspaces.send(new ListKeyspacesCommand({ maxResults: 100, ...(token ? { nextToken: token } : {}) })),
      );
      return { items: out.keyspaces ?? [], next: text(out.nextToken) };
    });
    for (const space of spaces) {
      const keyspaceName = text(space.keyspaceName);
      if (!keyspaceName || keyspaceName.startsWith('system')) continue;
      await guarded(`keyspace ${keyspaceName}`, async () => {
        const tables = await pages(options, count, async (token) => {
          const out = await awsCall('ListTables', () =>
            keyspaces.send(
              new ListTablesCommand({
                keyspaceName,
                maxResults: 100,
                ...(token ? { nextToken: token } : {}),
              }),
            ),
          );
          return { items: out.tables ?? [], next: text(out.nextToken) };
        });
        for (const t of tables) {
          const tableName = text(t.tableName);
          if (!tableName) continue;
          await guarded(`table ${keyspaceName}.${tableName}`, async () => {
            const listedArn = text(t.resourceArn) ?? '';
            const shared = sharedRead(listedArn)?.encryption;
            let enc: EncryptionSetting;
            let resourceArn = listedArn;
            if (shared) enc = shared;
            else {
              const out = await read('GetTable', () =>
                keyspaces.send(new GetTableCommand({ keyspaceName, tableName })),
              );
              enc = keyspacesEncryption(out.encryptionSpecification);
              resourceArn = text(out.resourceArn) ?? listedArn;
            }
            if (enc.type === 'CustomerManaged' && enc.keyArn)
              result.users.push({ service: 'Keyspaces', what: 'table', resourceArn, keyRef: enc.keyArn });
          });
        }
      });
    }
  });

  // EMR Serverless: applications, and job runs still active with a job-level key (a job-level
  // override wins over the application's key, EMR-003).
  const emr = clients.emrServerless(target);
  await guarded('emr-serverless ListApplications', async () => {
    const apps = await pages(options, count, async (token) => {
      const out = await awsCall('ListApplications', () =>
        emr.send(new ListEmrApplicationsCommand({ maxResults: 50, ...(token ? { nextToken: token } : {}) })),
      );
      return { items: out.applications ?? [], next: text(out.nextToken) };
    });
    for (const summary of apps) {
      const applicationId = text(summary.id);
      if (!applicationId) continue;
      const arn = text(summary.arn) ?? '';
      const version = iso(summary.updatedAt) ?? '';
      if (!carriedOver(arn, version)) {
        const before = result.users.length;
        await guarded(`application ${applicationId}`, async () => {
          const shared = sharedRead(arn, version);
          const enc =
            shared?.encryption ??
            emrEncryption(
              (await read('GetApplication', () => emr.send(new GetApplicationCommand({ applicationId }))))
                .application?.diskEncryptionConfiguration,
            );
          if (enc.type === 'CustomerManaged')
            result.users.push({
              service: 'EmrServerless',
              what: 'application',
              resourceArn: arn,
              keyRef: enc.keyArn,
            });
          if (!shared || shared.vouched) remember(arn, version, result.users.slice(before));
        });
      }
      // Only a started application runs job runs and sessions, and it cannot stop while any is
      // active (EMR-010): one listed as CREATED or STOPPED has none, and its listings are skipped.
      // Submitting a job to it starts it first, so a later pass lists them.
      if (summary.state === 'CREATED' || summary.state === 'STOPPED' || summary.state === 'CREATING')
        continue;
      // Interactive sessions still alive, with the disk key their spark-defaults name (EMR-013):
      // like job runs, they come and go without the application changing.
      await guarded(`sessions of ${applicationId}`, async () => {
        const sessions = await pages(options, count, async (token) => {
          const r = await awsCall('ListSessions', () =>
            emr.send(
              new ListSessionsCommand({
                applicationId,
                states: ['SUBMITTED', 'STARTING', 'STARTED', 'IDLE', 'BUSY'],
                maxResults: 50,
                ...(token ? { nextToken: token } : {}),
              }),
            ),
          );
          return { items: r.sessions ?? [], next: text(r.nextToken) };
        });
        for (const summary of sessions) {
          const sessionId = text(summary.sessionId);
          if (!sessionId) continue;
          await callSlot(options);
          count();
          const session = await getSession(clients, target, { applicationId, sessionId });
          if (session?.requestedKeyArn && !session.ended)
            result.users.push({
              service: 'EmrServerless',
              what: 'session',
              resourceArn: session.arn || `${arn}/sessions/${sessionId}`,
              keyRef: session.requestedKeyArn,
            });
        }
      });
      // Active job runs come and go without the application changing: read on every pass.
      await guarded(`job runs of ${applicationId}`, async () => {
        const runs = await pages(options, count, async (token) => {
          const r = await awsCall('ListJobRuns', () =>
            emr.send(
              new ListJobRunsCommand({
                applicationId,
                states: ['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'QUEUED', 'CANCELLING'],
                maxResults: 50,
                ...(token ? { nextToken: token } : {}),
              }),
            ),
          );
          return { items: r.jobRuns ?? [], next: text(r.nextToken) };
        });
        for (const run of runs) {
          const jobRunId = text(run.id);
          if (!jobRunId) continue;
          const got = await read('GetJobRun', () =>
            emr.send(new GetJobRunCommand({ applicationId, jobRunId })),
          );
          const runEnc = emrEncryption(got.jobRun?.configurationOverrides?.diskEncryptionConfiguration);
          if (runEnc.type === 'CustomerManaged')
            result.users.push({
              service: 'EmrServerless',
              what: 'jobRun',
              resourceArn: text(got.jobRun?.arn) ?? `${arn}/jobruns/${jobRunId}`,
              keyRef: runEnc.keyArn,
            });
        }
      });
    }
  });
  return result;
}

/**
 * The KMS grants on a key that a workload service holds (KS-016: Keyspaces' grants carry the
 * table's `aws:cassandra:*` encryption context; KS-015: one outlives its table for its backups).
 */
export async function grantUsers(
  clients: AwsClients,
  target: AwsTarget,
  keyArn: string,
  options: ScanOptions,
): Promise<AwsKeyUser[]> {
  const kms = clients.kms(target);
  const grants = await pages(
    options,
    () => {},
    async (token) => {
      const out = await awsCall('ListGrants', () =>
        kms.send(new ListGrantsCommand({ KeyId: keyArn, Limit: 100, ...(token ? { Marker: token } : {}) })),
      );
      return { items: out.Grants ?? [], next: out.Truncated ? text(out.NextMarker) : undefined };
    },
  );
  const users: AwsKeyUser[] = [];
  for (const g of grants) {
    const table = keyspacesTableOfGrant(g.Constraints?.EncryptionContextSubset, target.region);
    if (table)
      users.push({
        service: 'Keyspaces',
        what: 'grant',
        resourceArn: `${table} (grant ${text(g.Name) ?? text(g.GrantId) ?? ''})`,
        keyRef: keyArn,
      });
  }
  return users;
}

/** The table a Keyspaces grant belongs to, from its encryption-context constraint (KS-010, KS-016). */
export function keyspacesTableOfGrant(
  context: Record<string, string> | undefined,
  region: string,
): string | undefined {
  const keyspace = context?.['aws:cassandra:keyspaceName'];
  const table = context?.['aws:cassandra:tableName'];
  const account = context?.['aws:cassandra:subscriberId'];
  if (!keyspace || !table || !account) return undefined;
  return `arn:aws:cassandra:${region}:${account}:/keyspace/${keyspace}/table/${table}`;
}
