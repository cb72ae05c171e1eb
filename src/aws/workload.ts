// The one shape every workload service adapter has (DESIGN.md: one workload core, three adapters).
// An adapter reads the resource's encryption state, requests a key change, tells whether AWS has
// settled, restarts or stops/starts when asked, and claims the resource with tags. Service quirks
// (MSF version tokens and operations, EMR's stopped-only updates, Keyspaces' inaccessible-key
// countdown and one-setting-per-UpdateTable) live in the adapters and nowhere else; the reconcile
// core above sees only these types. Every SDK failure leaves an adapter as a classified AwsCallError.

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

export interface WorkloadState {
  resourceArn: string;
  /** The status string AWS reports (RUNNING, ACTIVE, STOPPED...). */
  awsState: string;
  /** False while AWS is transitioning (UPDATING, STARTING, CREATING...): poll fast, change nothing. */
  settled: boolean;
  /** The configured encryption as AWS reports it. */
  encryption: EncryptionSetting;
  /**
   * Undefined when a key change may be requested now; otherwise the CamelCase reason it may not
   * (`ApplicationRunning` for EMR STARTED, `Transitioning`, `TableInaccessible`...).
   */
  changeBlockedBy?: string;
  /** Whether the resource is running with storage provisioned (MSF RUNNING, EMR STARTED). */
  running: boolean;
  /**
   * Keyspaces: the table cannot reach its key (INACCESSIBLE_ENCRYPTION_CREDENTIALS). AWS deletes it
   * 7 days after detection; the core reports this at once as a critical condition.
   */
  keyInaccessible?: boolean;
  /** AWS tags on the resource (the core's ownership claim lives here). */
  tags: Record<string, string>;
  /** The latest key-related operation AWS reports (MSF), to follow a change to its end. */
  lastOperation?: WorkloadOperation;
  /** Service-specific facts the core passes through to status (MSF version id, EMR job counts). */
  details: Record<string, string | number | boolean>;
}

export interface ObserveOptions {
  /** Remembers slow-changing reads between reconciles; keys start with the resource ARN. */
  memo?: TtlMemo;
  /** Read everything from AWS (and refresh the memo): the core is about to act on what it sees. */
  forActing?: boolean;
}

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
  return options.memo.remember(key, load, options.forActing ? { maxAgeMs: 0 } : {});
}

export interface ChangeResult {
  /** What was done, for the audit record and lastOperation. */
  operation: WorkloadOperation;
  requestId?: string;
}

export interface WorkloadAdapter {
  service: WorkloadService;
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
   * Requests the key change. Called only after the core's pre-flight passed and `changeBlockedBy`
   * was undefined. Re-reads what the service needs for optimistic concurrency (MSF) immediately
   * before the write; never blind-retries a stale token.
   */
  changeKey(
    clients: AwsClients,
    target: AwsTarget,
    id: WorkloadId,
    desired: EncryptionSetting,
  ): Promise<ChangeResult>;
  /** Follows an operation started by changeKey/restart (MSF DescribeApplicationOperation). */
  operation?(
    clients: AwsClients,
    target: AwsTarget,
    id: WorkloadId,
    operationId: string,
  ): Promise<WorkloadOperation>;
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
