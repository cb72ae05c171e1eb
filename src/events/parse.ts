// What an event-queue message asks the operator to look at. A message body is an EventBridge
// envelope (EVT-001), possibly wrapped in an SNS notification, around a CloudTrail record of an API
// call (EVT-002, EVT-003) or a service's own event; the answer is the keys and resources it names,
// never what changed: the reconcile reads AWS afresh (the queue carries a key, never an event).
//
// Guarantees: pure and total. Any input — malformed JSON, another kind of event, a failed call, a
// record with missing or oddly typed fields — yields `{ ignored: reason }`, never an exception.
// Tolerant where the record shape is unconfirmed: request members are read in lowerCamelCase and
// PascalCase, Keyspaces events by their CQL names and API names (EVT-004), and a key is named by the
// ARN where the record has one, else by whatever identifier the caller passed.

export type WorkloadServiceName = 'msf' | 'keyspaces' | 'emr-serverless';

export type EventTarget =
  | {
      kind: 'key';
      /** Key id, key ARN, alias name or alias ARN, as the event names it. */
      ref: string;
      region?: string;
      eventName: string;
    }
  | {
      kind: 'resource';
      service: WorkloadServiceName;
      arn?: string;
      /** MSF application name. */
      name?: string;
      keyspace?: string;
      table?: string;
      applicationId?: string;
      region?: string;
      eventName: string;
    };

export type ParsedEvent = EventTarget[] | { ignored: string };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= 2048 ? v : undefined;
/** A member in lowerCamelCase or PascalCase (MSF and EMR record casing is unconfirmed, EVT-003). */
const member = (o: unknown, name: string): string | undefined =>
  isObject(o) ? (text(o[name]) ?? text(o[name.charAt(0).toUpperCase() + name.slice(1)])) : undefined;

/** The KMS calls and service events that change what a key can do (EVT-002). */
const kmsKeyEvents = new Set([
  'DisableKey',
  'EnableKey',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'PutKeyPolicy',
  'EnableKeyRotation',
  'DisableKeyRotation',
  'RotateKeyOnDemand',
  'RotateKey',
  'DeleteKey',
]);
const kmsAliasEvents = new Set(['CreateAlias', 'UpdateAlias', 'DeleteAlias']);
/** KMS's own events: the bare key id in `detail.key-id`, the ARN in `resources` (EVT-002). */
const kmsDirectEvents = new Set([
  'KMS CMK Rotation',
  'KMS CMK Deletion',
  'KMS Imported Key Material Expiration',
]);

const workloadEvents: Record<string, { service: WorkloadServiceName; events: Set<string> }> = {
  'aws.kinesisanalytics': {
    service: 'msf',
    events: new Set([
      'CreateApplication',
      'UpdateApplication',
      'DeleteApplication',
      'StartApplication',
      'StopApplication',
      'RollbackApplication',
    ]),
  },
  // CQL names (AlterTable is UpdateTable) and API names both accepted (EVT-004).
  'aws.cassandra': {
    service: 'keyspaces',
    events: new Set(['CreateTable', 'AlterTable', 'DropTable', 'UpdateTable', 'DeleteTable', 'RestoreTable']),
  },
  'aws.emr-serverless': {
    service: 'emr-serverless',
    events: new Set([
      'CreateApplication',
      'UpdateApplication',
      'DeleteApplication',
      'StartApplication',
      'StopApplication',
    ]),
  },
};

const apiCallTypes = new Set(['AWS API Call via CloudTrail', 'AWS Service Event via CloudTrail']);

/** ARNs the record lists in `detail.resources` whose type matches. */
function resourceArns(detail: Json, type: (t: string) => boolean): string[] {
  const list = detail['resources'];
  if (!Array.isArray(list)) return [];
  return list.flatMap((r) => {
    const arn = isObject(r) ? (text(r['ARN']) ?? text(r['arn'])) : undefined;
    const t = isObject(r) ? text(r['type']) : undefined;
    return arn && (t === undefined || type(t)) ? [arn] : [];
  });
}

const isKeyArn = (s: string) => /^arn:aws[a-z-]*:kms:[^:]*:\d{12}:key\//.test(s);

/** The key a KMS record is about: an ARN where the record has one, else the identifier as passed. */
function kmsKeyRef(detail: Json, requestMember: string): string | undefined {
  const response = detail['responseElements'];
  const fromResponse = member(response, 'keyId');
  const listed = resourceArns(detail, (t) => t === 'AWS::KMS::Key').find(isKeyArn);
  return (
    (fromResponse && isKeyArn(fromResponse) ? fromResponse : undefined) ??
    listed ??
    member(detail['requestParameters'], requestMember) ??
    member(detail['additionalEventData'], 'keyId') ??
    member(detail['serviceEventDetails'], 'keyId') ??
    fromResponse
  );
}

function kmsTargets(detail: Json, eventName: string, region: string | undefined): ParsedEvent {
  const base = { kind: 'key' as const, eventName, ...(region ? { region } : {}) };
  if (kmsKeyEvents.has(eventName)) {
    const ref = kmsKeyRef(detail, 'keyId');
    return ref ? [{ ...base, ref }] : { ignored: `KMS ${eventName} names no key` };
  }
  if (kmsAliasEvents.has(eventName)) {
    const alias = member(detail['requestParameters'], 'aliasName');
    // The alias's previous target is not in the record: objects naming the alias are looked at too.
    const key = eventName === 'DeleteAlias' ? undefined : kmsKeyRef(detail, 'targetKeyId');
    const targets = [alias, key].filter((r): r is string => r !== undefined).map((ref) => ({ ...base, ref }));
    return targets.length > 0 ? targets : { ignored: `KMS ${eventName} names no alias or key` };
  }
  return { ignored: `KMS ${eventName} does not change what a key can do` };
}

/** `arn:aws:cassandra:<region>:<account>:/keyspace/<ks>/table/<t>` → its keyspace and table. */
function keyspacesNames(arn: string | undefined): { keyspace?: string; table?: string } {
  const m = arn ? /:\/keyspace\/([^/]+)\/table\/([^/]+)/.exec(arn) : null;
  return m ? { keyspace: m[1]!, table: m[2]! } : {};
}

function workloadTargets(
  service: WorkloadServiceName,
  detail: Json,
  eventName: string,
  region: string | undefined,
): ParsedEvent {
  const request = detail['requestParameters'];
  const response = detail['responseElements'];
  const base = { kind: 'resource' as const, service, eventName, ...(region ? { region } : {}) };
  const only = <T extends Json>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  if (service === 'msf') {
    const name = member(request, 'applicationName');
    const detailOfApp = isObject(response)
      ? (response['applicationDetail'] ?? response['ApplicationDetail'])
      : undefined;
    const arn = member(detailOfApp, 'applicationARN') ?? resourceArns(detail, () => true)[0];
    return name || arn
      ? [{ ...base, ...only({ name, arn }) }]
      : { ignored: `MSF ${eventName} names no application` };
  }
  if (service === 'keyspaces') {
    const arn = resourceArns(detail, (t) => t === 'AWS::Cassandra::Table')[0];
    const fromArn = keyspacesNames(arn);
    const keyspace = member(request, 'keyspaceName') ?? fromArn.keyspace;
    const table = member(request, 'tableName') ?? fromArn.table;
    return keyspace && table
      ? [{ ...base, ...only({ keyspace, table, arn }) }]
      : { ignored: `Keyspaces ${eventName} names no table` };
  }
  const applicationId =
    member(request, 'applicationId') ?? member(response, 'applicationId') ?? member(detail, 'applicationId');
  const arn = member(response, 'arn');
  return applicationId || arn
    ? [{ ...base, ...only({ applicationId, arn }) }]
    : { ignored: `EMR Serverless ${eventName} names no application` };
}

function envelopeTargets(event: Json): ParsedEvent {
  const detailType = text(event['detail-type']);
  const source = text(event['source']);
  const detail = event['detail'];
  if (!detailType || !source || !isObject(detail)) return { ignored: 'not an EventBridge event' };
  const region = text(event['region']) ?? text(detail['awsRegion']);

  if (source === 'aws.kms' && kmsDirectEvents.has(detailType)) {
    const resources = Array.isArray(event['resources']) ? event['resources'] : [];
    const ref = resources.map(text).find((r) => r !== undefined) ?? text(detail['key-id']);
    return ref
      ? [{ kind: 'key', ref, eventName: detailType, ...(region ? { region } : {}) }]
      : { ignored: `${detailType} names no key` };
  }
  if (source === 'aws.emr-serverless' && detailType === 'EMR Serverless Application State Change') {
    return workloadTargets('emr-serverless', detail, detailType, region);
  }
  if (!apiCallTypes.has(detailType)) return { ignored: `detail-type "${detailType}" is not watched` };

  const eventName = text(detail['eventName']);
  if (!eventName) return { ignored: 'the CloudTrail record has no eventName' };
  const errorCode = text(detail['errorCode']);
  if (errorCode) return { ignored: `${eventName} failed (${errorCode}) and changed nothing` };
  if (source === 'aws.kms') return kmsTargets(detail, eventName, region);
  const workload = workloadEvents[source];
  if (!workload) return { ignored: `source "${source}" is not watched` };
  if (!workload.events.has(eventName)) return { ignored: `${source} ${eventName} is not watched` };
  return workloadTargets(workload.service, detail, eventName, region);
}

/** The keys and resources a queue message names, or why it names none. Never throws. */
export function eventTargetsOf(body: string): ParsedEvent {
  try {
    let value: unknown = JSON.parse(body);
    // An SNS topic between the rule and the queue wraps the event (raw delivery off).
    for (let depth = 0; depth < 3 && isObject(value) && value['Type'] === 'Notification'; depth++) {
      const inner = value['Message'];
      if (typeof inner !== 'string') return { ignored: 'an SNS notification without a Message' };
      value = JSON.parse(inner);
    }
    if (!isObject(value)) return { ignored: 'not an EventBridge event' };
    return envelopeTargets(value);
  } catch (e) {
    return { ignored: e instanceof SyntaxError ? 'not JSON' : `unreadable: ${String(e)}` };
  }
}
