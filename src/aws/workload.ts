// The one shape every workload service adapter has (DESIGN.md: one workload core, three adapters).
// An adapter reads the resource's encryption state, requests a key change, tells whether AWS has
// settled, restarts or stops/starts when asked, and claims the resource with tags. Service quirks
// live in the adapters and reach the reconcile core above only as these types: why a key change
// must wait is a typed ChangeBlocker (WorkloadState.blocker), what differs in the rules is a declared
// WorkloadCapabilities (WorkloadAdapter.capabilities, the rule id of the AWS fact on each), and
// service-specific facts are a typed per-service record. The core never branches on the service
// name. Every SDK failure leaves an adapter as a classified AwsCallError.

import type { TtlMemo } from '../runtime/ttl-memo.ts';
import type { AwsClients, AwsTarget } from './clients.ts';

export type WorkloadService = 'ManagedFlink' | 'Keyspaces' | 'EmrServerless';

/** The key a workload is (or should be) encrypted with, with aliases already resolved to ARNs. */
export type EncryptionSetting =
  | { type: 'AwsOwned' }
  | { type: 'CustomerManaged'; keyArn: string; encryptionContext?: Record<string, string> };

/** Identity of the AWS resource, from the workload object's spec. */
export type WorkloadId =
  | { service: 'ManagedFlink'; applicationName: string }
  | { service: 'Keyspaces'; keyspaceName: string; tableName: string }
  | { service: 'EmrServerless'; applicationId: string };

export interface WorkloadOperation {
  /** AWS operation id where the service has one (MSF), else a synthetic one. */
  id?: string;
  action: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  startTime?: string;
  endTime?: string;
  /** AWS's own error text for a failure (MSF ErrorInfo.ErrorString, EMR stateDetails). */
  message?: string;
  /** Set when a refused switch was found due to the key itself being unusable at the time. */
  failureCause?: 'KeyUnusable';
}

/** Where an operation stands, as `operation()` answers: its status, and what else AWS said of it. */
export type OperationStanding = Pick<WorkloadOperation, 'status'> & Partial<WorkloadOperation>;

/**
 * Why a key change may not be requested now. Every value an adapter reports; the kind is also the
 * CamelCase condition reason the core shows while it waits.
 */
export type ChangeBlocker =
  /**
   * EMR Serverless STARTED: UpdateApplication is accepted only while CREATED or STOPPED, and
   * StopApplication only once every job run has ended or been cancelled (EMR-010, TRAP-11). The ids
   * are the runs not yet finished; a light observation leaves them unread (empty).
   */
  | { kind: 'ApplicationRunning'; activeJobRunIds: string[] }
  /** AWS is moving (or reports a status this build does not know): poll, change nothing (MSF-021, KS-023, EMR-010). */
  | { kind: 'Transitioning' }
  /** Managed Flink ROLLED_BACK: at rest, but UpdateApplication is documented only for READY and RUNNING (MSF-021). */
  | { kind: 'RolledBack' }
  /** EMR Serverless TERMINATED: the application was deleted; it still reads, but never changes (EMR-010). */
  | { kind: 'Terminated' }
  /** Keyspaces INACCESSIBLE_ENCRYPTION_CREDENTIALS: only restoring access to the key helps, not another change (KS-018, KS-023). */
  | { kind: 'TableInaccessible' };

export type ChangeBlockerKind = ChangeBlocker['kind'];

/** Facts one service reports beyond the common shape, for status and the plugin; the plan reads none. */
export type ServiceFacts =
  | {
      service: 'ManagedFlink';
      applicationVersionId?: number;
      /** The optimistic-concurrency token of this read (MSF-022): changeKey updates only this version. */
      conditionalToken?: string;
      runtime?: string;
    }
  | { service: 'Keyspaces'; pointInTimeRecovery?: string }
  | {
      service: 'EmrServerless';
      /** Job runs not finished (0 when a light observation left them unread). */
      activeJobs: number;
      releaseLabel?: string;
      stateDetails?: string;
      /** When AWS last updated the application (ISO 8601): its version in a listing (EMR-014). */
      updatedAt?: string;
    };

export interface WorkloadState {
  resourceArn: string;
  /** The status string AWS reports (RUNNING, ACTIVE, STOPPED...). */
  awsState: string;
  /** False while AWS is transitioning (UPDATING, STARTING, CREATING...): poll fast, change nothing. */
  settled: boolean;
  /** The configured encryption as AWS reports it. */
  encryption: EncryptionSetting;
  /** Undefined when a key change may be requested now; otherwise why it may not. */
  blocker?: ChangeBlocker;
  /** Whether the resource is running with storage provisioned (MSF RUNNING, EMR STARTED). */
  running: boolean;
  /**
   * When the running resource's storage was provisioned, as AWS's own history shows it (MSF-025: the
   * newest successful StartApplication, or UpdateApplication that restarted it); undefined when not
   * running or when the history does not show it.
   */
  runningSince?: string;
  /** A restart would lose the running state: MSF with snapshots disabled (MSF-026). */
  restartLosesState?: boolean;
  /**
   * Keyspaces: the table cannot reach its key (INACCESSIBLE_ENCRYPTION_CREDENTIALS). AWS deletes it
   * 7 days after detection (KS-019); the core reports this at once as a critical condition.
   */
  keyInaccessible?: boolean;
  /** AWS tags on the resource (the core's ownership claim lives here). */
  tags: Record<string, string>;
  /** The latest key-related operation AWS reports (MSF), to follow a change to its end. */
  lastOperation?: WorkloadOperation;
  /** Service-specific facts (MSF version id, EMR job counts), typed per service. */
  facts: ServiceFacts;
  /**
   * When AWS was asked, if before the look began: a light look answered from a listing that several
   * looks share (MSF-027). Undefined: read by this look.
   */
  readAt?: number;
}

/**
 * What a service does differently, declared by its adapter as data. The observe step and the pure
 * plan read these instead of the service name; each names the AWS fact (docs/aws-behaviour.md) it
 * stands for.
 */
export interface WorkloadCapabilities {
  /**
   * The AWS operation a key change is, named in the intent recorded before the call (MSF-011:
   * UpdateApplication; KS-022: UpdateTable; EMR-004: UpdateApplication).
   */
  changeKeyOperation: 'UpdateApplication' | 'UpdateTable';
  /**
   * The encryption context is part of the configured key, so a context change is a key change
   * (EMR-008: diskEncryptionConfiguration carries encryptionContext; MSF and Keyspaces have none).
   */
  comparesEncryptionContext: boolean;
  /**
   * The key being left must stay usable for the switch: the running state is snapshotted under it,
   * and a caller without permission on it cannot switch away, even to the AWS owned key (MSF-015, TRAP-07).
   */
  outgoingKeyMustStayUsable: boolean;
  /** A key change restarts a running resource, a disruption that waits for the maintenance window (MSF-011, TRAP-04). */
  changeRestartsRunning: boolean;
  /**
   * A running resource keeps the key material it started with until it restarts, so a rotation is
   * tracked (MaterialCurrent) and answered with a restart when asked (MSF-017, TRAP-05).
   */
  keepsMaterialUntilRestart: boolean;
  /**
   * AWS reports whether the resource can reach its key (INACCESSIBLE_ENCRYPTION_CREDENTIALS), so the
   * core shows KeyAccessible (KS-018, KS-019, KS-023).
   */
  reportsKeyAccessibility: boolean;
  /** Jobs carry their own key, which wins over the application's: the operator publishes job-level overrides (EMR-003, TRAP-13). */
  jobLevelKeys: boolean;
}

export interface ObserveOptions {
  /** Remembers slow-changing reads between reconciles; keys start with the resource ARN. */
  memo?: TtlMemo;
  /**
   * Read everything from AWS (and refresh the memo): the core is about to act on what it sees.
   * Without it (and with a memo), a look is light: facts that matter only at rest (MSF's operation
   * history) may be left unread while the resource moves.
   */
  forActing?: boolean;
  /** With `forActing`: memo entries loaded at or after this moment serve (otherwise: load again). */
  factsLoadedSince?: number;
  /**
   * A light look at a workload whose stored status says it is settled (Ready for its generation,
   * no change of this process in flight): it may answer from a listing shared by other looks, a few
   * seconds old, where the service lists a version that vouches for the configuration (Managed
   * Flink, MSF-027; EMR Serverless, EMR-014).
   */
  shareListing?: boolean;
  /** The clock listings are dated by (default: the system clock). */
  now?: () => number;
  /** How old a shared listing may be (listingMaxAgeMs of the resync period, src/aws/region-listing.ts). */
  listingMaxAgeMs?: number;
}

/** The observe memo's name for a resource's tags (every adapter reads them through it). */
export const tagsMemoName = (resourceArn: string) => `${resourceArn}|tags`;

/**
 * A slow-changing read through the observe memo when the observation is light, straight from AWS
 * (refreshing the memo) when it is for acting, and straight from AWS when there is no memo.
 */
export function memoized<T>(
  options: ObserveOptions | undefined,
  key: string,
  load: () => Promise<T>,
): Promise<T> {
  if (!options?.memo) return load();
  if (!options.forActing) return options.memo.remember(key, load);
  return options.memo.remember(key, load, {
    maxAgeMs: 0,
    ...(options.factsLoadedSince !== undefined ? { loadedSince: options.factsLoadedSince } : {}),
  });
}

/**
 * `memoized` for a read of which only the newest version is ever asked for again (a Flink
 * application's operation history, keyed by the application's version): the entries under `prefix`
 * for other versions are dropped first. Without that, each superseded version's entry stayed for the
 * memo's TTL (1 h): after a fleet switch, one more history per application.
 * `prefix` is `<resource ARN>|<what>|`: the ARN is the memo's subject, so the drop touches only the
 * resource's own entries.
 */
export function memoizedLatest<T>(
  options: ObserveOptions | undefined,
  prefix: string,
  version: string,
  load: () => Promise<T>,
): Promise<T> {
  const key = `${prefix}${version}`;
  options?.memo?.forgetSubject(
    prefix.slice(0, prefix.indexOf('|')),
    (name) => name !== key && name.startsWith(prefix),
  );
  return memoized(options, key, load);
}

export interface ChangeResult {
  /** What was done, for the audit record and lastOperation. */
  operation: WorkloadOperation;
  requestId?: string;
}

export interface WorkloadAdapter {
  service: WorkloadService;
  /** What this service does differently, as data for the core (see WorkloadCapabilities). */
  capabilities: WorkloadCapabilities;
  /**
   * Reads the resource; undefined when it does not exist. With a memo and without `forActing`, the
   * read is light: one call for the resource itself, with slow-changing facts (tags, MSF's
   * operation history for this version) from the memo, and facts only acting needs (EMR's active
   * job runs) left out. The core observes again with `forActing` before it changes anything.
   */
  observe(
    clients: AwsClients,
    target: AwsTarget,
    id: WorkloadId,
    options?: ObserveOptions,
  ): Promise<WorkloadState | undefined>;
  /**
   * Requests the key change. Called only after the core's pre-flight passed and `observed`, the
   * full read for acting this reconcile planned the switch on, had no `blocker`. Where the service
   * has optimistic concurrency (MSF-022) the update carries the token of that read, so it applies
   * only to the version the plan was made on: a change by anyone since is refused (Conflict) and
   * the core plans again on a new read. Never retries a stale token.
   */
  changeKey(
    clients: AwsClients,
    target: AwsTarget,
    id: WorkloadId,
    desired: EncryptionSetting,
    observed: WorkloadState,
  ): Promise<ChangeResult>;
  /**
   * Follows an operation started by changeKey/restart, given the resource as this reconcile has just
   * read it (observe): an adapter answers from that read where it says enough (a Keyspaces table's
   * status and key; MSF: a final status in the operation history, or an application still moving)
   * and asks AWS otherwise (MSF DescribeApplicationOperation). The core reads the answer's status,
   * end time and message.
   */
  operation?(
    clients: AwsClients,
    target: AwsTarget,
    id: WorkloadId,
    operationId: string,
    observed: WorkloadState,
  ): Promise<OperationStanding>;
  /** Restarts a running resource so it picks up new key material (MSF stop + start, no Force). */
  restart?(clients: AwsClients, target: AwsTarget, id: WorkloadId): Promise<ChangeResult>;
  /** Stops / starts a resource (EMR StopAndUpdate). */
  stop?(clients: AwsClients, target: AwsTarget, id: WorkloadId): Promise<ChangeResult>;
  start?(clients: AwsClients, target: AwsTarget, id: WorkloadId): Promise<ChangeResult>;
  /** Adds tags (the ownership claim); never removes tags it did not add. */
  tag(
    clients: AwsClients,
    target: AwsTarget,
    resourceArn: string,
    tags: Record<string, string>,
  ): Promise<void>;
  untag(clients: AwsClients, target: AwsTarget, resourceArn: string, keys: string[]): Promise<void>;
  /** Encryption context the service puts on its KMS calls for this resource (for pre-flight policy checks). */
  encryptionContext(
    id: WorkloadId,
    state: Pick<WorkloadState, 'resourceArn'>,
    accountId: string,
  ): Record<string, string>;
}
