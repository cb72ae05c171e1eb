// What a successful mutating call looks like once CloudTrail has recorded it and EventBridge has
// wrapped it (EVT-001..004): the allow-list of calls that produce an event, and the envelope built
// from the request the caller sent and the answer it got. Pure apart from one KMS lookup (the key ARN
// the KMS records name); emulator/core/trail.ts decides whether and when the event is delivered.
//
// Readings where AWS is UNCONFIRMED (also in services/sqs/index.ts):
// - requestParameters are the request as sent with top-level member names in lowerCamelCase (KMS's
//   documented casing, EVT-003); nested members keep the API's casing. MSF and EMR Serverless casing
//   is undocumented.
// - responseElements: `{keyId: <key ARN>}` for the KMS calls whose records are documented to carry it
//   (DisableKey, EnableKeyRotation, CreateAlias, UpdateAlias, ScheduleKeyDeletion with keyState and a
//   locale-style deletionDate), the bare key id for RotateKeyOnDemand, null everywhere else.
// - Keyspaces records UpdateTable under its CQL name AlterTable (EVT-004) with keyspaceName,
//   tableName and the request's members (the shape of an SDK-originated record is undocumented).
// - detail.resources lists the key (and alias) ARNs for KMS and the table ARN for Keyspaces; the
//   envelope's own `resources` is empty, as in captured CloudTrail-delivered events.

import type { Principal } from './identity.ts';
import type { ServiceName } from './protocol.ts';
import type { CallContext, JsonObject } from './service.ts';

interface Call {
  ctx: CallContext;
  input: JsonObject;
  result: unknown;
}

interface Resource {
  accountId: string;
  type: string;
  ARN: string;
}

interface EventSpec {
  /** The CloudTrail event name when it is not the operation's name. */
  eventName?: string;
  requestParameters?(call: Call): unknown;
  responseElements?(call: Call): unknown;
  resources?(call: Call): Resource[];
}

type TrailService = Exclude<ServiceName, 'sts' | 'sqs'>;

/** EventBridge `source` and CloudTrail `eventSource` per service (EVT-002). */
export const trailSources: Record<TrailService, { source: string; eventSource: string }> = {
  kms: { source: 'aws.kms', eventSource: 'kms.amazonaws.com' },
  kinesisanalytics: { source: 'aws.kinesisanalytics', eventSource: 'kinesisanalytics.amazonaws.com' },
  cassandra: { source: 'aws.cassandra', eventSource: 'cassandra.amazonaws.com' },
  'emr-serverless': { source: 'aws.emr-serverless', eventSource: 'emr-serverless.amazonaws.com' },
};

const lowerFirst = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);
const camelTop = (input: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(input).map(([k, v]) => [lowerFirst(k), v]));

const keyArnOf = ({ ctx, input }: Call, member = 'KeyId'): string | undefined => {
  const ref = input[member];
  return typeof ref === 'string' ? ctx.world.kms.findKey(ref, ctx.region, ctx.accountId)?.arn : undefined;
};
const keyResource = (call: Call, member = 'KeyId'): Resource[] => {
  const arn = keyArnOf(call, member);
  return arn ? [{ accountId: call.ctx.accountId, type: 'AWS::KMS::Key', ARN: arn }] : [];
};
const aliasResources = (call: Call): Resource[] => [
  {
    accountId: call.ctx.accountId,
    type: 'AWS::KMS::Key',
    ARN: `arn:aws:kms:${call.ctx.region}:${call.ctx.accountId}:${String(call.input['AliasName'])}`,
  },
  ...keyResource(call, 'TargetKeyId'),
];
const keyArnElement = (member: string) => (call: Call) => {
  const arn = keyArnOf(call, member);
  return arn ? { keyId: arn } : null;
};

/** KMS's record prints the deletion date the way a US locale does, not as ISO-8601 (EVT-003). */
export function localeDate(ms: number): string {
  return new Date(ms).toLocaleString('en-US', {
    timeZone: 'UTC',
    month: 'short',
    day: 'numeric',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: true,
  });
}

const kmsKey: EventSpec = { resources: (c) => keyResource(c) };
const kmsKeyWithArn: EventSpec = { ...kmsKey, responseElements: keyArnElement('KeyId') };
const alias: EventSpec = { resources: aliasResources, responseElements: keyArnElement('TargetKeyId') };
const keyspacesTable: EventSpec = {
  eventName: 'AlterTable',
  resources: ({ ctx, input }) => [
    {
      accountId: ctx.accountId,
      type: 'AWS::Cassandra::Table',
      ARN: `arn:aws:cassandra:${ctx.region}:${ctx.accountId}:/keyspace/${String(input['keyspaceName'])}/table/${String(input['tableName'])}`,
    },
  ],
};

/** The calls that produce an event (EVT-002); everything else publishes nothing. */
export const trailEvents: Record<TrailService, Record<string, EventSpec>> = {
  kms: {
    DisableKey: kmsKeyWithArn,
    EnableKey: kmsKey,
    ScheduleKeyDeletion: {
      ...kmsKey,
      responseElements: (c) => {
        const r = c.result as { KeyId?: string; KeyState?: string; DeletionDate?: number };
        return {
          keyId: r.KeyId ?? keyArnOf(c),
          keyState: r.KeyState ?? 'PendingDeletion',
          ...(r.DeletionDate !== undefined ? { deletionDate: localeDate(r.DeletionDate * 1000) } : {}),
        };
      },
    },
    CancelKeyDeletion: kmsKey,
    PutKeyPolicy: kmsKey,
    CreateAlias: alias,
    UpdateAlias: alias,
    DeleteAlias: { resources: (c) => aliasResources(c).slice(0, 1) },
    EnableKeyRotation: kmsKeyWithArn,
    DisableKeyRotation: kmsKey,
    RotateKeyOnDemand: {
      ...kmsKey,
      responseElements: (c) => {
        const arn = keyArnOf(c);
        return arn ? { keyId: arn.slice(arn.indexOf('/') + 1) } : null;
      },
    },
  },
  kinesisanalytics: { UpdateApplication: {}, StartApplication: {}, StopApplication: {} },
  cassandra: { UpdateTable: keyspacesTable },
  'emr-serverless': { UpdateApplication: {}, StartApplication: {}, StopApplication: {} },
};

const identityTypes: Record<Principal['type'], string> = {
  root: 'Root',
  user: 'IAMUser',
  role: 'AssumedRole',
  'assumed-role': 'AssumedRole',
};

function userIdentity(p: Principal): JsonObject {
  return {
    type: identityTypes[p.type],
    principalId: p.type === 'root' ? p.accountId : p.accessKeyId,
    arn: p.arn,
    accountId: p.accountId,
    accessKeyId: p.accessKeyId,
    ...(p.roleArn
      ? { sessionContext: { sessionIssuer: { type: 'Role', arn: p.roleArn, accountId: p.accountId } } }
      : {}),
  };
}

/** Whether a call of this service and operation produces an event at all. */
export function producesEvent(service: ServiceName, operation: string): boolean {
  return trailEvents[service as TrailService]?.[operation] !== undefined;
}

/**
 * The EventBridge envelope around the CloudTrail record of a successful call (EVT-001), or undefined
 * when the call is not on the allow-list. `ids` supplies the envelope id and the record's eventID.
 */
export function cloudTrailEvent(call: Call, ids: () => string): JsonObject | undefined {
  const { ctx, input } = call;
  const spec = trailEvents[ctx.service as TrailService]?.[ctx.operation];
  if (!spec) return undefined;
  const { source, eventSource } = trailSources[ctx.service as TrailService];
  const time = `${new Date(ctx.now).toISOString().slice(0, 19)}Z`;
  return {
    version: '0',
    id: ids(),
    'detail-type': 'AWS API Call via CloudTrail',
    source,
    account: ctx.accountId,
    time,
    region: ctx.region,
    resources: [],
    detail: {
      eventVersion: '1.08',
      userIdentity: userIdentity(ctx.caller),
      eventTime: time,
      eventSource,
      eventName: spec.eventName ?? ctx.operation,
      awsRegion: ctx.region,
      sourceIPAddress: '127.0.0.1',
      userAgent: 'aws-sdk-js',
      requestParameters: spec.requestParameters ? spec.requestParameters(call) : camelTop(input),
      responseElements: spec.responseElements ? spec.responseElements(call) : null,
      requestID: ctx.requestId,
      eventID: ids(),
      readOnly: false,
      ...(spec.resources ? { resources: spec.resources(call) } : {}),
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ctx.accountId,
      eventCategory: 'Management',
    },
  };
}
