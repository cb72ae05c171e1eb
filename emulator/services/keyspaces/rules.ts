// Keyspaces rules: constants, request validation and pure decisions, each citing the fact it
// implements. No store, no clock, no HTTP.

import { lowerBound } from '../../core/collections.ts';
import { keyArnPattern, keyServesData } from '../../core/key-usable.ts';
import { AwsError } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import { validator } from '../../core/validate.ts';
import type { KeyView } from '../../core/world.ts';
import type { EncryptionSpec, Table, TableStatus } from './state.ts';

export const v = validator('ValidationException');

export const servicePrincipal = 'cassandra.amazonaws.com';
/** KS-016: the operations of the two grants Keyspaces holds on a table's key. */
export const grantOperations = [
  'DescribeKey',
  'GenerateDataKey',
  'Decrypt',
  'Encrypt',
  'ReEncryptFrom',
  'ReEncryptTo',
  'RetireGrant',
];
const day = 86_400_000;
/** KS-019: a table whose key stays unusable for 7 days is deleted. */
export const lockoutMs = 7 * day;
/** KS-015: the grant protecting the automatic backup outlives the table by 42 days. */
export const backupGrantMs = 42 * day;
/** KS-023: DDL operations in flight per account and Region. */
export const ddlLimit = 50;
export const maxTags = 50;
export const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$/;
/** AWS lists its system keyspaces in every account and Region; an operator must skip them. */
export const systemKeyspaces = ['system', 'system_multiregion_info', 'system_schema', 'system_schema_mcs'];
/** KS-023: the statuses that count against the DDL quota. */
export const ddlStates: ReadonlySet<TableStatus> = new Set(['CREATING', 'UPDATING', 'DELETING']);
const cqlTypes = new Set([
  'ascii',
  'bigint',
  'blob',
  'boolean',
  'counter',
  'date',
  'decimal',
  'double',
  'float',
  'frozen',
  'inet',
  'int',
  'list',
  'map',
  'set',
  'smallint',
  'text',
  'time',
  'timestamp',
  'timeuuid',
  'tinyint',
  'tuple',
  'uuid',
  'varchar',
  'varint',
]);

export const validation = (message: string) => new AwsError('ValidationException', message, 400);
export const conflict = (message: string) => new AwsError('ConflictException', message, 409);
export const notFound = (message: string, resourceArn: string) =>
  new AwsError('ResourceNotFoundException', message, 404, { resourceArn });
export const quotaExceeded = (message: string) => new AwsError('ServiceQuotaExceededException', message, 402);

// ---- Pagination ---------------------------------------------------------------------------------

export function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

export function decodeToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through to the error below
  }
  throw validation('The nextToken is not valid');
}

/** A page of `names` strictly after the token's name. */
export function page(
  names: readonly string[],
  input: JsonObject,
  defaultMax: number,
): { slice: string[]; nextToken?: string } {
  const max = v.optInt(input, 'maxResults', { min: 1, max: 1000 }) ?? defaultMax;
  const after = decodeToken(v.optStr(input, 'nextToken', { min: 1 }));
  let start = 0;
  if (after !== undefined) {
    start = lowerBound(names, after);
    if (names[start] === after) start++;
  }
  const slice = names.slice(start, start + max);
  const more = start + max < names.length;
  return more ? { slice, nextToken: encodeToken(slice[slice.length - 1]!) } : { slice };
}

// ---- Request validation -------------------------------------------------------------------------

export function list(input: JsonObject, member: string): JsonObject[] | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((x) => x === null || typeof x !== 'object' || Array.isArray(x)))
    v.fail(
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a list of structures`,
    );
  return value as JsonObject[];
}

export function parseTags(input: JsonObject, member: string): Array<[string, string]> {
  const tags = list(input, member) ?? [];
  if (tags.length > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
  return tags.map((t) => [v.str(t, 'key', { min: 1, max: 128 }), v.str(t, 'value', { min: 1, max: 256 })]);
}

/** Whether a column type's base CQL type (`map<text, int>` is a `map`) is one Keyspaces knows. */
export function knownCqlType(type: string): boolean {
  return cqlTypes.has(type.trim().toLowerCase().split('<')[0]!.trim());
}

export function validateSchema(schema: JsonObject): JsonObject {
  const columns = list(schema, 'allColumns');
  const partitionKeys = list(schema, 'partitionKeys');
  if (!columns || columns.length === 0)
    v.fail(
      "1 validation error detected: Value null at 'schemaDefinition.allColumns' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  if (!partitionKeys || partitionKeys.length === 0)
    v.fail(
      "1 validation error detected: Value null at 'schemaDefinition.partitionKeys' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  const types = new Map<string, string>();
  for (const c of columns!) {
    const name = v.str(c, 'name', { min: 1, max: 48 });
    const type = v.str(c, 'type', { min: 1 }).trim().toLowerCase();
    if (!knownCqlType(type)) throw validation(`Unknown type ${type} for column ${name}`);
    if (types.has(name)) throw validation(`Duplicate column name ${name}`);
    types.set(name, type);
  }
  const keyNames = new Set<string>();
  const useKey = (name: string, role: string) => {
    if (!types.has(name)) throw validation(`Unknown ${role} column ${name}: not defined in allColumns`);
    if (keyNames.has(name)) throw validation(`Column ${name} is used more than once as a key column`);
    const type = types.get(name)!;
    if (/^(list|set|map)\s*</.test(type) || type === 'counter')
      throw validation(`Invalid ${role} column ${name}: type ${type} cannot be part of the primary key`);
    keyNames.add(name);
  };
  for (const p of partitionKeys!) useKey(v.str(p, 'name', { min: 1 }), 'partition key');
  const clustering = list(schema, 'clusteringKeys') ?? [];
  for (const c of clustering) {
    useKey(v.str(c, 'name', { min: 1 }), 'clustering key');
    v.enumOf(c, 'orderBy', ['ASC', 'DESC']);
  }
  const statics = list(schema, 'staticColumns') ?? [];
  if (statics.length > 0 && clustering.length === 0)
    throw validation('Static columns are only allowed in tables with clustering columns');
  for (const s of statics) {
    const name = v.str(s, 'name', { min: 1 });
    if (!types.has(name)) throw validation(`Unknown static column ${name}: not defined in allColumns`);
    if (keyNames.has(name)) throw validation(`Primary key column ${name} cannot be static`);
  }
  return structuredClone(schema);
}

export function parseCapacity(raw: JsonObject): Table['capacity'] {
  const throughputMode = v.enumOf(raw, 'throughputMode', ['PAY_PER_REQUEST', 'PROVISIONED']);
  const readCapacityUnits = v.optInt(raw, 'readCapacityUnits', { min: 1 });
  const writeCapacityUnits = v.optInt(raw, 'writeCapacityUnits', { min: 1 });
  if (throughputMode === 'PROVISIONED') {
    if (readCapacityUnits === undefined || writeCapacityUnits === undefined)
      throw validation(
        'readCapacityUnits and writeCapacityUnits are required for PROVISIONED throughput mode',
      );
    return { throughputMode, readCapacityUnits, writeCapacityUnits };
  }
  if (readCapacityUnits !== undefined || writeCapacityUnits !== undefined)
    throw validation(
      'readCapacityUnits and writeCapacityUnits are only valid for PROVISIONED throughput mode',
    );
  return { throughputMode };
}

/**
 * KS-022: `encryptionSpecification`. A CMK must be named by its key ARN; alias names and alias ARNs
 * get their own message. This runs during request validation, before the table is looked up, which is
 * why the key-usable chain's `format` step never fails for Keyspaces (see core/key-usable.ts).
 */
export function parseEncryption(raw: JsonObject): EncryptionSpec {
  const type = v.enumOf(raw, 'type', ['AWS_OWNED_KMS_KEY', 'CUSTOMER_MANAGED_KMS_KEY'] as const);
  const id = v.optStr(raw, 'kmsKeyIdentifier', { min: 1, max: 5096 });
  if (type === 'AWS_OWNED_KMS_KEY') {
    if (id !== undefined)
      throw validation('kmsKeyIdentifier can only be specified with type CUSTOMER_MANAGED_KMS_KEY');
    return { type };
  }
  if (id === undefined)
    throw validation('kmsKeyIdentifier is required when the encryption type is CUSTOMER_MANAGED_KMS_KEY');
  if (/^arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias\//.test(id) || id.startsWith('alias/'))
    throw validation(
      `Invalid kmsKeyIdentifier ${id}: aliases are not accepted, specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    );
  if (!keyArnPattern.test(id))
    throw validation(
      `Invalid kmsKeyIdentifier ${id}: specify the ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    );
  return { type, kmsKeyIdentifier: id };
}

export const sameEncryption = (a: EncryptionSpec, b: EncryptionSpec) =>
  a.type === b.type && (a.kmsKeyIdentifier ?? '') === (b.kmsKeyIdentifier ?? '');

/** Settings UpdateTable knows; the request names exactly one of them (see updateSettingsProblem). */
export const updateSettings = [
  'addColumns',
  'capacitySpecification',
  'encryptionSpecification',
  'pointInTimeRecovery',
  'ttl',
  'defaultTimeToLive',
  'clientSideTimestamps',
  'autoScalingSpecification',
  'replicaSpecifications',
  'cdcSpecification',
  'warmThroughputSpecification',
] as const;
const combinable: ReadonlySet<string> = new Set([
  'capacitySpecification',
  'autoScalingSpecification',
  'replicaSpecifications',
]);

/**
 * UpdateTable changes one setting per request (UNCONFIRMED, stricter reading); encryptionSpecification
 * never travels with another; capacity, auto scaling and replicas may go together.
 */
export function updateSettingsProblem(present: readonly string[]): string | undefined {
  if (present.length === 0)
    return `UpdateTable needs one table setting to change; none of ${updateSettings.join(', ')} was given`;
  if (present.includes('encryptionSpecification') && present.length > 1)
    return `encryptionSpecification must be updated on its own; this request also changes ${present.filter((s) => s !== 'encryptionSpecification').join(', ')}. Send one UpdateTable request per setting`;
  if (present.length > 1 && !present.every((s) => combinable.has(s)))
    return `UpdateTable changes one table setting per request; this request changes ${present.join(', ')}`;
  return undefined;
}

// ---- Keys ---------------------------------------------------------------------------------------

/** KS-012, KS-016: the encryption context of every Keyspaces KMS call and grant constraint. */
export const encryptionContext = (t: { keyspaceName: string; name: string; accountId: string }) => ({
  'aws:cassandra:keyspaceName': t.keyspaceName,
  'aws:cassandra:tableName': t.name,
  'aws:cassandra:subscriberId': t.accountId,
});

/** KS-018: a table on an AWS owned key is always readable; a CMK table only while its key serves data. */
export function tableKeyUsable(encryption: EncryptionSpec, key: KeyView | undefined): boolean {
  return encryption.type === 'AWS_OWNED_KMS_KEY' || keyServesData(key);
}

/**
 * KS-018, KS-019: how a key change moves a table. An ACTIVE table whose key stops serving data becomes
 * INACCESSIBLE_ENCRYPTION_CREDENTIALS (its 7-day countdown starts); an inaccessible one whose key serves
 * data again becomes ACTIVE. CREATING/UPDATING tables look at the key when their transition completes.
 */
export function statusAfterKeyChange(status: TableStatus, usable: boolean): 'lock' | 'restore' | undefined {
  if (!usable && status === 'ACTIVE') return 'lock';
  if (usable && status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS') return 'restore';
  return undefined;
}

/** KS-014: a full grant quota is a ValidationException (waiting does not fix it). */
export const grantQuotaMessage = (keyArn: string) =>
  `Amazon Keyspaces could not create grants on the KMS key ${keyArn}: the key has reached its grant quota (KMS LimitExceededException). Retire unused grants or use another key`;
