// The Amazon Keyspaces adapter (control plane; the AWS facts: KS-001..023). It reads a table's encryption
// specification, status and tags, and changes the key with UpdateTable carrying the
// encryptionSpecification and nothing else: UpdateTable takes one setting per call (KS-022, TRAP-10), so
// this adapter never batches the key with other drift. The key is always a key ARN (Keyspaces accepts
// nothing else). It never touches the table's KMS grants (KS-017, TRAP-09).
//
// Guarantees and choices:
// - observe returns undefined for a missing table, and for one AWS reports as DELETED.
// - INACCESSIBLE_ENCRYPTION_CREDENTIALS is settled (nothing is moving) but sets keyInaccessible and
//   the blocker TableInaccessible: AWS deletes the table 7 days after detection, so the core
//   reports it at once; only re-enabling the key helps, not another key change.
// - Unknown TableStatus values are reported as AWS sent them, settled=false, blocker
//   Transitioning. An absent encryptionSpecification is the AWS-owned default. Missing members never
//   throw; only a GetTable without resourceArn does (AwsCallError, cause Unknown).
// - Keyspaces has no operation ids. changeKey returns a synthetic, deterministic id naming the target,
//   `UpdateTable@<key ARN>` or `UpdateTable@AWS_OWNED_KMS_KEY`, so operation() needs no memory and no
//   call of its own: from the table as observe just read it, it reports Succeeded once it is ACTIVE
//   with the target key, InProgress while it is moving, and Failed when it is ACTIVE with another key
//   (the change was superseded or did not apply), inaccessible, or being deleted (a table that is
//   gone is not found by observe). The core then re-plans from what it observes.
// - untag(): UntagResource takes {key, value} pairs, so the current values are read first; keys the
//   table does not carry are skipped.

import {
  type EncryptionSpecification,
  GetTableCommand,
  type GetTableCommandOutput,
  type KeyspacesClient,
  ListTagsForResourceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-keyspaces';
import { keyspacesCapabilities } from './capabilities.ts';
import { AwsCallError, awsCall } from './errors.ts';
import { items, malformed, text } from './guards.ts';
import {
  type ChangeBlocker,
  type EncryptionSetting,
  memoized,
  tagsMemoName,
  type WorkloadAdapter,
  type WorkloadId,
  type WorkloadOperation,
  type WorkloadState,
} from './workload.ts';

/** Statuses at rest; CREATING, UPDATING, DELETING, RESTORING and unknown values are unsettled. */
const atRest: ReadonlySet<string> = new Set(['ACTIVE', 'INACCESSIBLE_ENCRYPTION_CREDENTIALS']);
const inaccessible = 'INACCESSIBLE_ENCRYPTION_CREDENTIALS';
const operationPrefix = 'UpdateTable@';
const awsOwnedType = 'AWS_OWNED_KMS_KEY';
const maxTagPages = 20;

function tableOf(id: WorkloadId): { keyspaceName: string; tableName: string } {
  if (id.service !== 'Keyspaces') throw new Error(`keyspacesAdapter was given a ${id.service} workload`);
  return { keyspaceName: id.keyspaceName, tableName: id.tableName };
}

/** The table's key as AWS describes it; absent means the AWS-owned default (KS-022). */
export function keyspacesEncryption(spec: EncryptionSpecification | undefined): EncryptionSetting {
  const keyArn = text(spec?.kmsKeyIdentifier);
  if (spec?.type === 'CUSTOMER_MANAGED_KMS_KEY' || keyArn) {
    return { type: 'CustomerManaged', keyArn: keyArn ?? '' };
  }
  return { type: 'AwsOwned' };
}

/** Pure: WorkloadState from GetTable and the tags. */
export function keyspacesState(table: GetTableCommandOutput, tags: Record<string, string>): WorkloadState {
  const status: string = text(table.status) ?? 'Unknown';
  const blocker: ChangeBlocker | undefined =
    status === 'ACTIVE'
      ? undefined
      : { kind: status === inaccessible ? 'TableInaccessible' : 'Transitioning' };
  const pitr = text(table.pointInTimeRecovery?.status);
  return {
    resourceArn: text(table.resourceArn) ?? '',
    awsState: status,
    settled: atRest.has(status),
    encryption: keyspacesEncryption(table.encryptionSpecification),
    ...(blocker ? { blocker } : {}),
    running: status === 'ACTIVE',
    ...(status === inaccessible ? { keyInaccessible: true } : {}),
    tags,
    facts: { service: 'Keyspaces', ...(pitr ? { pointInTimeRecovery: pitr } : {}) },
  };
}

/** The synthetic operation id for a change to `desired` (see the module comment). */
export function keyspacesOperationId(desired: EncryptionSetting): string {
  return operationPrefix + (desired.type === 'CustomerManaged' ? desired.keyArn : awsOwnedType);
}

function targetOf(operationId: string): EncryptionSetting | undefined {
  if (!operationId.startsWith(operationPrefix)) return undefined;
  const rest = operationId.slice(operationPrefix.length);
  if (rest === awsOwnedType) return { type: 'AwsOwned' };
  return rest ? { type: 'CustomerManaged', keyArn: rest } : undefined;
}

const sameKey = (a: EncryptionSetting, b: EncryptionSetting) =>
  a.type === b.type && (a.type === 'AwsOwned' || (b.type === 'CustomerManaged' && a.keyArn === b.keyArn));

const describeSetting = (s: EncryptionSetting) =>
  s.type === 'CustomerManaged' ? s.keyArn : 'the AWS owned key';

async function getTable(
  client: KeyspacesClient,
  table: { keyspaceName: string; tableName: string },
): Promise<GetTableCommandOutput | undefined> {
  try {
    const out = await awsCall('GetTable', () => client.send(new GetTableCommand(table)));
    return out.status === 'DELETED' ? undefined : out;
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return undefined;
    throw e;
  }
}

async function listTags(client: KeyspacesClient, resourceArn: string): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let nextToken: string | undefined;
  for (let page = 0; page < maxTagPages; page++) {
    const out = await awsCall('ListTagsForResource', () =>
      client.send(new ListTagsForResourceCommand({ resourceArn, ...(nextToken ? { nextToken } : {}) })),
    );
    for (const t of items(out.tags)) {
      const key = text(t.key);
      if (key) tags[key] = text(t.value) ?? '';
    }
    nextToken = text(out.nextToken);
    if (!nextToken) break;
  }
  return tags;
}

export const keyspacesAdapter: WorkloadAdapter = {
  service: 'Keyspaces',
  capabilities: keyspacesCapabilities,

  async observe(clients, target, id, options) {
    const client = clients.keyspaces(target);
    const table = await getTable(client, tableOf(id));
    if (!table) return undefined;
    const resourceArn = text(table.resourceArn);
    if (!resourceArn) throw malformed('GetTable', `no resourceArn for ${id.service} table`);
    const tags = await memoized(options, tagsMemoName(resourceArn), () => listTags(client, resourceArn));
    return keyspacesState(table, tags);
  },

  async changeKey(clients, target, id, desired) {
    const encryptionSpecification: EncryptionSpecification =
      desired.type === 'CustomerManaged'
        ? { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: desired.keyArn }
        : { type: awsOwnedType };
    // encryptionSpecification alone: one setting per UpdateTable (TRAP-10).
    const out = await awsCall('UpdateTable', () =>
      clients.keyspaces(target).send(new UpdateTableCommand({ ...tableOf(id), encryptionSpecification })),
    );
    return {
      operation: { id: keyspacesOperationId(desired), action: 'UpdateTable', status: 'InProgress' },
      ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
    };
  },

  // Answered from the read the reconcile has just made, not from a second GetTable.
  async operation(_clients, _target, _id, operationId, observed): Promise<WorkloadOperation> {
    const base = { id: operationId, action: 'UpdateTable' };
    const wanted = targetOf(operationId);
    if (!wanted)
      return { ...base, status: 'Failed', message: `${operationId} is not a Keyspaces key change.` };
    if (observed.keyInaccessible) {
      return {
        ...base,
        status: 'Failed',
        message: 'The table cannot reach its KMS key (INACCESSIBLE_ENCRYPTION_CREDENTIALS).',
      };
    }
    if (observed.awsState === 'DELETING')
      return { ...base, status: 'Failed', message: 'The table is being deleted.' };
    if (observed.awsState !== 'ACTIVE') return { ...base, status: 'InProgress' };
    if (sameKey(observed.encryption, wanted)) return { ...base, status: 'Succeeded' };
    return {
      ...base,
      status: 'Failed',
      message: `The table is ACTIVE with ${describeSetting(observed.encryption)}, not ${describeSetting(wanted)}.`,
    };
  },

  async tag(clients, target, resourceArn, tags) {
    const entries = Object.entries(tags);
    if (entries.length === 0) return;
    await awsCall('TagResource', () =>
      clients
        .keyspaces(target)
        .send(new TagResourceCommand({ resourceArn, tags: entries.map(([key, value]) => ({ key, value })) })),
    );
  },

  async untag(clients, target, resourceArn, keys) {
    if (keys.length === 0) return;
    const client = clients.keyspaces(target);
    const current = await listTags(client, resourceArn);
    const tags = keys.filter((k) => Object.hasOwn(current, k)).map((key) => ({ key, value: current[key]! }));
    if (tags.length === 0) return;
    await awsCall('UntagResource', () => client.send(new UntagResourceCommand({ resourceArn, tags })));
  },

  encryptionContext(id, _state, accountId) {
    const { keyspaceName, tableName } = tableOf(id);
    return {
      'aws:cassandra:keyspaceName': keyspaceName,
      'aws:cassandra:tableName': tableName,
      'aws:cassandra:subscriberId': accountId,
    };
  },
};
