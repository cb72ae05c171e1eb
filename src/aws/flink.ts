// The Managed Service for Apache Flink adapter (API kinesisanalyticsv2; the AWS facts: MSF-001..027). It reads an
// application's configured key, status, tags and latest lifecycle operation; it changes the key with
// UpdateApplication; it stops and starts the application. It never force-stops (MSF-023, TRAP-04: Force skips
// the snapshot) and never retries a stale version token (MSF-022, TRAP-06): changeKey sends the token
// of the full read the switch was planned on (made in the same reconcile, just before) and lets a
// ConcurrentModificationException surface as a Conflict for the core to re-plan on a new read.
//
// Guarantees and choices:
// - observe returns undefined for a missing application. An absent encryption description is the
//   AWS-owned default (legacy applications report none). The key is reported as AWS stores it, a key
//   ARN (MSF-020, TRAP-08); the core compares it with its own alias-resolved ARN.
// - Unknown ApplicationStatus values (a newer API than this build) are reported as AWS sent them, with
//   settled=false and the blocker Transitioning: poll, change nothing. ROLLED_BACK is settled
//   but not changeable (blocker RolledBack). Unknown OperationStatus values count as InProgress; CANCELLED
//   counts as Failed. Missing members never throw; only a response without ApplicationDetail or ARN
//   does, as an AwsCallError with cause Unknown (retried like Transient).
// - lastOperation is the newest UpdateApplication/StartApplication/StopApplication among the latest
//   twenty operations (ListApplicationOperations; ordering newest-first is assumed and the page is
//   sorted by StartTime to be safe). A failed one is described once more for its ErrorString.
// - runningSince, for a RUNNING application, is the StartTime of the newest successful StartApplication
//   or UpdateApplication on the same page (MSF-025: whoever called it); the restart after a rotation is
//   decided on it. Not on the page (a long history, or none kept): undefined, and the core falls back.
// - restartLosesState is set only when AWS says SnapshotsEnabled: false (MSF-026).
// - changeKey skips the UpdateApplication (returns Succeeded without an id) when the read shows the
//   desired key already configured: a redundant update restarts a RUNNING application.
// - operation() answers from the history observe read when it shows the operation ended, and "in
//   progress" while the application is moving (a light look does not read the history then);
//   otherwise DescribeApplicationOperation.
// - A periodic light look at a workload whose status says it is settled (`shareListing`) may answer
//   from a listing of its Region, at most listingMaxAgeMs(resync) old, shared by every look of a
//   resync wave (ListApplications, 50 applications a call; made only when the looks of the window
//   before outnumbered its pages): when the listing shows the version and status of the
//   last full read (DescribeApplication, remembered in the observe memo, for at most the memo's
//   TTL), that read's configuration stands (MSF-027), and the answer is dated when the listing was
//   read. Anything else (not listed, another version or status, no remembered read, a failed or
//   over-long listing) reads the application. A look for acting always reads it.
// - Restart is two-phase and driven by the core, because an adapter call never waits: restart() is
//   phase one, a graceful StopApplication (the same call as stop()); the core follows its operation
//   (operation()) until the application is READY, then calls start(), which is StartApplication with
//   the application's configured restore (latest snapshot by default). restart() on a non-RUNNING
//   application is refused by AWS (ResourceInUseException -> Conflict).

import {
  type ApplicationDetail,
  type ApplicationEncryptionConfigurationDescription,
  type ApplicationEncryptionConfigurationUpdate,
  type ApplicationOperationInfo,
  type ApplicationSummary,
  DescribeApplicationCommand,
  DescribeApplicationOperationCommand,
  type KinesisAnalyticsV2Client,
  ListApplicationOperationsCommand,
  ListApplicationsCommand,
  ListTagsForResourceCommand,
  StartApplicationCommand,
  StopApplicationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { flinkCapabilities } from './capabilities.ts';
import type { AwsClients, AwsTarget } from './clients.ts';
import { AwsCallError, awsCall } from './errors.ts';
import { epochMs, iso, items, malformed, text } from './guards.ts';
import { forgetReads, type ListingKind, listedRead, rememberRead } from './region-listing.ts';
import {
  type ChangeBlocker,
  type ChangeResult,
  type EncryptionSetting,
  memoized,
  memoizedLatest,
  type ObserveOptions,
  type OperationStanding,
  tagsMemoName,
  type WorkloadAdapter,
  type WorkloadId,
  type WorkloadOperation,
  type WorkloadState,
} from './workload.ts';

/**
 * Statuses at rest. Everything else is unsettled: the transitional STARTING, UPDATING, STOPPING,
 * FORCE_STOPPING, ROLLING_BACK, AUTOSCALING, DELETING, MAINTENANCE (MSF-021) and any unknown value.
 */
const atRest: ReadonlySet<string> = new Set(['READY', 'RUNNING', 'ROLLED_BACK']);
/** UpdateApplication is documented only for these (MSF-021). */
const changeable: ReadonlySet<string> = new Set(['READY', 'RUNNING']);
/** The operations that move the key or the running storage. */
const lifecycleOperations: ReadonlySet<string> = new Set([
  'UpdateApplication',
  'StartApplication',
  'StopApplication',
]);

function applicationName(id: WorkloadId): string {
  if (id.service !== 'ManagedFlink') throw new Error(`flinkAdapter was given a ${id.service} workload`);
  return id.applicationName;
}

/** The configured key as AWS describes it; absent means the AWS-owned default (MSF-020). */
export function flinkEncryption(
  d: ApplicationEncryptionConfigurationDescription | undefined,
): EncryptionSetting {
  const keyId = text(d?.KeyId);
  if (keyId) return { type: 'CustomerManaged', keyArn: keyId };
  // A CMK without a key id should not happen; an empty ARN never equals a desired one, so it shows as drift.
  if (d?.KeyType === 'CUSTOMER_MANAGED_KEY') return { type: 'CustomerManaged', keyArn: '' };
  return { type: 'AwsOwned' };
}

function operationStatus(status: string | undefined): WorkloadOperation['status'] {
  if (status === 'SUCCESSFUL') return 'Succeeded';
  if (status === 'FAILED' || status === 'CANCELLED') return 'Failed';
  return 'InProgress';
}

function operationFrom(
  info: ApplicationOperationInfo & { OperationFailureDetails?: { ErrorInfo?: { ErrorString?: string } } },
  id?: string,
): WorkloadOperation {
  const startTime = iso(info.StartTime);
  const endTime = iso(info.EndTime);
  const opId = text(info.OperationId) ?? id;
  const message =
    text(info.OperationFailureDetails?.ErrorInfo?.ErrorString) ??
    (info.OperationStatus === 'CANCELLED' ? 'The operation was cancelled.' : undefined);
  return {
    ...(opId ? { id: opId } : {}),
    action: text(info.Operation) ?? 'Unknown',
    status: operationStatus(text(info.OperationStatus)),
    ...(startTime ? { startTime } : {}),
    ...(endTime ? { endTime } : {}),
    ...(message ? { message } : {}),
  };
}

/** Pure: WorkloadState from DescribeApplication, the tags and what the operation history shows. */
export function flinkState(
  detail: ApplicationDetail,
  tags: Record<string, string>,
  lastOperation?: WorkloadOperation,
  runningSince?: string,
): WorkloadState {
  const status: string = text(detail.ApplicationStatus) ?? 'Unknown';
  const blocker: ChangeBlocker | undefined = changeable.has(status)
    ? undefined
    : { kind: status === 'ROLLED_BACK' ? 'RolledBack' : 'Transitioning' };
  const runtime = text(detail.RuntimeEnvironment);
  return {
    resourceArn: text(detail.ApplicationARN) ?? '',
    awsState: status,
    settled: atRest.has(status),
    encryption: flinkEncryption(
      detail.ApplicationConfigurationDescription?.ApplicationEncryptionConfigurationDescription,
    ),
    ...(blocker ? { blocker } : {}),
    running: status === 'RUNNING',
    ...(status === 'RUNNING' && runningSince ? { runningSince } : {}),
    ...(snapshotsDisabled(detail) ? { restartLosesState: true } : {}),
    tags,
    ...(lastOperation ? { lastOperation } : {}),
    facts: {
      service: 'ManagedFlink',
      ...(Number.isFinite(detail.ApplicationVersionId)
        ? { applicationVersionId: detail.ApplicationVersionId! }
        : {}),
      ...(text(detail.ConditionalToken) ? { conditionalToken: text(detail.ConditionalToken)! } : {}),
      ...(runtime ? { runtime } : {}),
    },
  };
}

/** The version and status a listing or a read shows: a remembered read serves a listing with the same (MSF-027). */
const versionOf = (versionId: unknown, status: unknown) =>
  `${String(versionId ?? '')}/${String(status ?? '')}`;

/** The Region's listing of applications (ListApplications, 50 a call), for light looks (MSF-027). */
function flinkListing(client: KinesisAnalyticsV2Client): ListingKind<ApplicationSummary> {
  return {
    name: 'flink-listing',
    async page(token) {
      const out = await awsCall('ListApplications', () =>
        client.send(new ListApplicationsCommand({ Limit: 50, ...(token ? { NextToken: token } : {}) })),
      );
      const next = text(out.NextToken);
      return { entries: items(out.ApplicationSummaries), ...(next ? { next } : {}) };
    },
    entry(summary) {
      const name = text(summary.ApplicationName);
      const arn = text(summary.ApplicationARN);
      if (!name || !arn || summary.ApplicationVersionId === undefined || !text(summary.ApplicationStatus))
        return undefined;
      return [name, { arn, version: versionOf(summary.ApplicationVersionId, summary.ApplicationStatus) }];
    },
  };
}

/** The fields of a read that flinkState and the memo keys use: what a light look keeps of it. */
function kept(detail: ApplicationDetail): ApplicationDetail {
  const config = detail.ApplicationConfigurationDescription;
  const snapshots = config?.ApplicationSnapshotConfigurationDescription;
  return {
    ApplicationARN: detail.ApplicationARN,
    ApplicationName: detail.ApplicationName,
    ApplicationStatus: detail.ApplicationStatus,
    ApplicationVersionId: detail.ApplicationVersionId,
    RuntimeEnvironment: detail.RuntimeEnvironment,
    ...(detail.ConditionalToken !== undefined ? { ConditionalToken: detail.ConditionalToken } : {}),
    ...(detail.LastUpdateTimestamp !== undefined ? { LastUpdateTimestamp: detail.LastUpdateTimestamp } : {}),
    ...(config
      ? {
          ApplicationConfigurationDescription: {
            ...(config.ApplicationEncryptionConfigurationDescription
              ? {
                  ApplicationEncryptionConfigurationDescription:
                    config.ApplicationEncryptionConfigurationDescription,
                }
              : {}),
            ...(snapshots ? { ApplicationSnapshotConfigurationDescription: snapshots } : {}),
          },
        }
      : {}),
  } as ApplicationDetail;
}

/** Remembers a full read for light looks while listings show its version and status. */
function rememberDetail(options: ObserveOptions | undefined, detail: ApplicationDetail): void {
  const arn = text(detail.ApplicationARN);
  if (!options?.memo || !arn) return;
  rememberRead(
    options.memo,
    arn,
    versionOf(detail.ApplicationVersionId, detail.ApplicationStatus),
    kept(detail),
  );
}

/** Only an explicit false counts: an absent description says nothing (MSF-026). */
function snapshotsDisabled(detail: ApplicationDetail): boolean {
  return (
    detail.ApplicationConfigurationDescription?.ApplicationSnapshotConfigurationDescription
      ?.SnapshotsEnabled === false
  );
}

async function describeApplication(
  client: KinesisAnalyticsV2Client,
  name: string,
): Promise<ApplicationDetail> {
  const out = await awsCall('DescribeApplication', () =>
    client.send(new DescribeApplicationCommand({ ApplicationName: name })),
  );
  const detail = out.ApplicationDetail;
  if (!text(detail?.ApplicationARN))
    throw malformed('DescribeApplication', `no ApplicationDetail/ApplicationARN for ${name}`);
  return detail!;
}

async function listTags(client: KinesisAnalyticsV2Client, arn: string): Promise<Record<string, string>> {
  const out = await awsCall('ListTagsForResource', () =>
    client.send(new ListTagsForResourceCommand({ ResourceARN: arn })),
  );
  const tags: Record<string, string> = {};
  for (const t of items(out.Tags)) {
    const key = text(t.Key);
    if (key) tags[key] = text(t.Value) ?? '';
  }
  return tags;
}

async function describeOperation(
  client: KinesisAnalyticsV2Client,
  name: string,
  operationId: string,
): Promise<WorkloadOperation> {
  const out = await awsCall('DescribeApplicationOperation', () =>
    client.send(new DescribeApplicationOperationCommand({ ApplicationName: name, OperationId: operationId })),
  );
  const info = out.ApplicationOperationInfoDetails;
  if (!info || typeof info !== 'object')
    throw malformed('DescribeApplicationOperation', `no details for operation ${operationId} of ${name}`);
  return operationFrom(info, operationId);
}

/** What the latest operations say: the newest lifecycle change, and when the running storage was provisioned. */
interface OperationHistory {
  lastOperation?: WorkloadOperation;
  runningSince?: string;
}

/** The operations that provision running storage when they succeed (MSF-011, MSF-025). */
const provisioning: ReadonlySet<string> = new Set(['StartApplication', 'UpdateApplication']);

async function operationHistory(client: KinesisAnalyticsV2Client, name: string): Promise<OperationHistory> {
  let list: ApplicationOperationInfo[];
  try {
    const out = await awsCall('ListApplicationOperations', () =>
      client.send(new ListApplicationOperationsCommand({ ApplicationName: name, Limit: 20 })),
    );
    list = items(out.ApplicationOperationInfoList);
  } catch (e) {
    // UnsupportedOperation for applications without operation history: the state is still useful.
    if (e instanceof AwsCallError && e.failure.cause === 'InvalidSpec') return {};
    throw e;
  }
  const newestFirst = list
    .filter((op) => lifecycleOperations.has(text(op.Operation) ?? ''))
    .sort((a, b) => epochMs(b.StartTime) - epochMs(a.StartTime));
  const started = newestFirst.find(
    (op) => provisioning.has(text(op.Operation) ?? '') && op.OperationStatus === 'SUCCESSFUL',
  );
  const runningSince = iso(started?.StartTime);
  const history: OperationHistory = runningSince ? { runningSince } : {};
  const latest = newestFirst[0];
  if (!latest) return history;
  const op = operationFrom(latest);
  // The list carries no failure text; the core shows AWS's own reason, so fetch it once.
  if (op.status === 'Failed' && op.id && latest.OperationStatus === 'FAILED') {
    return { ...history, lastOperation: await describeOperation(client, name, op.id) };
  }
  return { ...history, lastOperation: op };
}

function encryptionUpdate(desired: EncryptionSetting): ApplicationEncryptionConfigurationUpdate {
  // Back to AWS-owned: KeyIdUpdate must be absent (MSF-020).
  return desired.type === 'CustomerManaged'
    ? { KeyTypeUpdate: 'CUSTOMER_MANAGED_KEY', KeyIdUpdate: desired.keyArn }
    : { KeyTypeUpdate: 'AWS_OWNED_KEY' };
}

const sameKey = (a: EncryptionSetting, b: EncryptionSetting) =>
  a.type === b.type && (a.type === 'AwsOwned' || (b.type === 'CustomerManaged' && a.keyArn === b.keyArn));

async function stopApplication(
  clients: AwsClients,
  target: AwsTarget,
  id: WorkloadId,
): Promise<ChangeResult> {
  const name = applicationName(id);
  // Never Force: a forced stop skips the snapshot and can lose or duplicate data (MSF-023, TRAP-04).
  const out = await awsCall('StopApplication', () =>
    clients.flink(target).send(new StopApplicationCommand({ ApplicationName: name })),
  );
  return {
    operation: {
      ...(out.OperationId ? { id: out.OperationId } : {}),
      action: 'StopApplication',
      status: 'InProgress',
    },
    ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
  };
}

export const flinkAdapter: WorkloadAdapter = {
  service: 'ManagedFlink',
  capabilities: flinkCapabilities,

  async observe(clients, target, id, options) {
    const client = clients.flink(target);
    const name = applicationName(id);
    const light = options?.memo !== undefined && !options.forActing;
    const listed =
      light && options?.shareListing && options.memo
        ? await listedRead<ApplicationDetail>(flinkListing(client), target, name, {
            ...options,
            memo: options.memo,
          })
        : undefined;
    let detail: ApplicationDetail;
    if (listed) detail = listed.read;
    else {
      try {
        detail = await describeApplication(client, name);
      } catch (e) {
        if (e instanceof AwsCallError && e.failure.cause === 'NotFound') {
          forgetReads(options?.memo, target, `:application/${name}`);
          return undefined;
        }
        throw e;
      }
      rememberDetail(options, detail);
    }
    const arn = detail.ApplicationARN!;
    // The operation history changes only with the application: keyed by its version and status. A
    // light look at an application still moving leaves it unread: what it would add (an operation
    // in progress; runningSince, which counts only once RUNNING) the moving status says already,
    // and nothing is decided until the application is at rest (operation() answers from the status).
    const status = text(detail.ApplicationStatus) ?? '';
    const version = `${detail.ApplicationVersionId ?? ''}/${status}/${epochMs(detail.LastUpdateTimestamp)}`;
    const [tags, history] = await Promise.all([
      memoized(options, tagsMemoName(arn), () => listTags(client, arn)),
      light && !atRest.has(status)
        ? Promise.resolve<OperationHistory>({})
        : memoizedLatest(options, `${arn}|operations|`, version, () => operationHistory(client, name)),
    ]);
    const state = flinkState(detail, tags, history.lastOperation, history.runningSince);
    return listed ? { ...state, readAt: listed.at } : state;
  },

  async changeKey(clients, target, id, desired, observed) {
    const name = applicationName(id);
    if (sameKey(observed.encryption, desired)) {
      return {
        operation: {
          action: 'UpdateApplication',
          status: 'Succeeded',
          message: 'The key is already configured.',
        },
      };
    }
    // The token of the read the switch was planned on (MSF-022, TRAP-06): anything that changed the
    // application since makes AWS refuse the update (Conflict), and the core plans again.
    const facts = observed.facts.service === 'ManagedFlink' ? observed.facts : undefined;
    const concurrency = facts?.conditionalToken
      ? { ConditionalToken: facts.conditionalToken }
      : facts?.applicationVersionId !== undefined
        ? { CurrentApplicationVersionId: facts.applicationVersionId }
        : undefined;
    if (!concurrency)
      throw malformed('DescribeApplication', `no ConditionalToken or ApplicationVersionId for ${name}`);
    const out = await awsCall('UpdateApplication', () =>
      clients.flink(target).send(
        new UpdateApplicationCommand({
          ApplicationName: name,
          ...concurrency,
          ApplicationConfigurationUpdate: {
            ApplicationEncryptionConfigurationUpdate: encryptionUpdate(desired),
          },
        }),
      ),
    );
    return {
      operation: {
        ...(out.OperationId ? { id: out.OperationId } : {}),
        action: 'UpdateApplication',
        status: 'InProgress',
      },
      ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
    };
  },

  operation(clients, target, id, operationId, observed): Promise<OperationStanding> {
    // The history observe read names the operation's end (a failure with AWS's text: operationHistory
    // describes a failed latest one): no call of its own. An application still moving is taken at
    // its word (the operation is under way; a light look leaves the history unread then); at rest, a
    // history saying "in progress" may be the memo's from before the end, and AWS is asked.
    const seen = observed.lastOperation;
    if (seen?.id === operationId && seen.status !== 'InProgress') return Promise.resolve(seen);
    if (!observed.settled) return Promise.resolve(seen?.id === operationId ? seen : { status: 'InProgress' });
    return describeOperation(clients.flink(target), applicationName(id), operationId);
  },

  restart: stopApplication,
  stop: stopApplication,

  async start(clients, target, id) {
    const name = applicationName(id);
    const out = await awsCall('StartApplication', () =>
      clients.flink(target).send(new StartApplicationCommand({ ApplicationName: name })),
    );
    return {
      operation: {
        ...(out.OperationId ? { id: out.OperationId } : {}),
        action: 'StartApplication',
        status: 'InProgress',
      },
      ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
    };
  },

  async tag(clients, target, resourceArn, tags) {
    const entries = Object.entries(tags);
    if (entries.length === 0) return;
    await awsCall('TagResource', () =>
      clients.flink(target).send(
        new TagResourceCommand({
          ResourceARN: resourceArn,
          Tags: entries.map(([Key, Value]) => ({ Key, Value })),
        }),
      ),
    );
  },

  async untag(clients, target, resourceArn, keys) {
    if (keys.length === 0) return;
    await awsCall('UntagResource', () =>
      clients.flink(target).send(new UntagResourceCommand({ ResourceARN: resourceArn, TagKeys: keys })),
    );
  },

  encryptionContext(_id, state) {
    return { 'aws:kinesisanalytics:arn': state.resourceArn };
  },
};
