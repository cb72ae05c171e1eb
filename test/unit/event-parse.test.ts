// eventTargetsOf: a queue message body in, the keys and resources to look at (or why none) out.
// Named table cases over the record shapes AWS documents (EVT-001..004), the tolerance the
// unconfirmed ones need, and fuzzed garbage that must never throw.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventTargetsOf } from '../../src/events/parse.ts';

const account = '111122223333';
const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
const keyArn = `arn:aws:kms:us-east-1:${account}:key/${keyId}`;
const aliasArn = `arn:aws:kms:us-east-1:${account}:alias/orders`;
const tableArn = `arn:aws:cassandra:us-east-1:${account}:/keyspace/shop/table/orders`;

interface Record {
  requestParameters?: unknown;
  responseElements?: unknown;
  resources?: unknown;
  errorCode?: string;
  [more: string]: unknown;
}

/** The EventBridge envelope of a CloudTrail record. */
function apiCall(
  source: string,
  eventName: string,
  record: Record = {},
  envelope: { [k: string]: unknown } = {},
) {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'AWS API Call via CloudTrail',
    source,
    account,
    time: '2026-11-23T12:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      eventVersion: '1.08',
      eventSource: `${source.slice(4)}.amazonaws.com`,
      eventName,
      awsRegion: 'us-east-1',
      requestParameters: null,
      responseElements: null,
      ...record,
    },
    ...envelope,
  };
}
const kms = (eventName: string, record: Record = {}) => apiCall('aws.kms', eventName, record);
const key = (ref: string, eventName: string) => ({ kind: 'key', ref, region: 'us-east-1', eventName });
const body = (event: unknown) => JSON.stringify(event);

describe('KMS API calls name the key (EVT-002, EVT-003)', () => {
  it.each([
    [
      'DisableKey: the key ARN from responseElements',
      kms('DisableKey', { requestParameters: { keyId }, responseElements: { keyId: keyArn } }),
      [key(keyArn, 'DisableKey')],
    ],
    [
      'EnableKey: the id the caller passed when nothing else names the key',
      kms('EnableKey', { requestParameters: { keyId } }),
      [key(keyId, 'EnableKey')],
    ],
    [
      'PutKeyPolicy: the ARN in detail.resources beats the passed id',
      kms('PutKeyPolicy', {
        requestParameters: { keyId, policy: '{}' },
        resources: [{ accountId: account, type: 'AWS::KMS::Key', ARN: keyArn }],
      }),
      [key(keyArn, 'PutKeyPolicy')],
    ],
    [
      'RotateKeyOnDemand: a bare id in responseElements is not preferred to the passed one',
      kms('RotateKeyOnDemand', { requestParameters: { keyId: keyArn }, responseElements: { keyId } }),
      [key(keyArn, 'RotateKeyOnDemand')],
    ],
    [
      'ScheduleKeyDeletion with its locale-style date',
      kms('ScheduleKeyDeletion', {
        requestParameters: { keyId, pendingWindowInDays: 7 },
        responseElements: {
          keyId: keyArn,
          keyState: 'PendingDeletion',
          deletionDate: 'Nov 30, 2026, 12:00:00 PM',
        },
      }),
      [key(keyArn, 'ScheduleKeyDeletion')],
    ],
    [
      'PascalCase request members are read too',
      kms('DisableKeyRotation', { requestParameters: { KeyId: keyId } }),
      [key(keyId, 'DisableKeyRotation')],
    ],
    [
      'CreateAlias: the alias and the key it now points at',
      kms('CreateAlias', {
        requestParameters: { aliasName: 'alias/orders', targetKeyId: keyId },
        resources: [
          { type: 'AWS::KMS::Key', ARN: aliasArn },
          { type: 'AWS::KMS::Key', ARN: keyArn },
        ],
      }),
      [key('alias/orders', 'CreateAlias'), key(keyArn, 'CreateAlias')],
    ],
    [
      'UpdateAlias: the alias and its new target',
      kms('UpdateAlias', {
        requestParameters: { aliasName: 'alias/orders', targetKeyId: keyId },
        responseElements: { keyId: keyArn },
      }),
      [key('alias/orders', 'UpdateAlias'), key(keyArn, 'UpdateAlias')],
    ],
    [
      'DeleteAlias: the alias only (its target is not in the record)',
      kms('DeleteAlias', {
        requestParameters: { aliasName: 'alias/orders' },
        resources: [{ type: 'AWS::KMS::Key', ARN: aliasArn }],
      }),
      [key('alias/orders', 'DeleteAlias')],
    ],
  ])('%s', (_name, event, expected) => {
    expect(eventTargetsOf(body(event))).toEqual(expected);
  });

  it('service events of rotation and deletion name the key from detail.resources', () => {
    const rotated = {
      ...kms('RotateKey', { resources: [{ accountId: account, type: 'AWS::KMS::Key', ARN: keyArn }] }),
      'detail-type': 'AWS Service Event via CloudTrail',
    };
    expect(eventTargetsOf(body(rotated))).toEqual([key(keyArn, 'RotateKey')]);
    const deleted = {
      ...kms('DeleteKey', { additionalEventData: { keyId } }),
      'detail-type': 'AWS Service Event via CloudTrail',
    };
    expect(eventTargetsOf(body(deleted))).toEqual([key(keyId, 'DeleteKey')]);
  });

  it("KMS's own events name the key ARN from the envelope, else the bare id", () => {
    const direct = (detailType: string, resources: unknown[]) => ({
      version: '0',
      id: 'x',
      'detail-type': detailType,
      source: 'aws.kms',
      region: 'eu-west-1',
      resources,
      detail: { 'key-id': keyId },
    });
    expect(eventTargetsOf(body(direct('KMS CMK Rotation', [keyArn])))).toEqual([
      { kind: 'key', ref: keyArn, region: 'eu-west-1', eventName: 'KMS CMK Rotation' },
    ]);
    expect(eventTargetsOf(body(direct('KMS CMK Deletion', [])))).toEqual([
      { kind: 'key', ref: keyId, region: 'eu-west-1', eventName: 'KMS CMK Deletion' },
    ]);
  });

  it.each([
    ['a read', kms('DescribeKey', { requestParameters: { keyId } }), /DescribeKey/],
    ['a cryptographic call', kms('Decrypt', { requestParameters: { keyId } }), /Decrypt/],
    [
      'a failed call',
      kms('DisableKey', { requestParameters: { keyId }, errorCode: 'AccessDenied' }),
      /failed \(AccessDenied\)/,
    ],
    ['a key event naming no key', kms('DisableKey', { requestParameters: { keyId: 42 } }), /names no key/],
    ['an alias event naming nothing', kms('DeleteAlias', { requestParameters: null }), /names no alias/],
  ])('ignores %s', (_name, event, reason) => {
    expect(eventTargetsOf(body(event))).toEqual({ ignored: expect.stringMatching(reason) });
  });
});

describe('workload API calls name the resource', () => {
  const msf = (eventName: string, record: Record) => apiCall('aws.kinesisanalytics', eventName, record);
  const ks = (eventName: string, record: Record) => apiCall('aws.cassandra', eventName, record);
  const emr = (eventName: string, record: Record) => apiCall('aws.emr-serverless', eventName, record);
  const resource = (service: string, eventName: string, names: { [k: string]: string }) => [
    { kind: 'resource', service, region: 'us-east-1', eventName, ...names },
  ];

  it.each([
    [
      'MSF UpdateApplication by name',
      msf('UpdateApplication', {
        requestParameters: { applicationName: 'orders', currentApplicationVersionId: 3 },
      }),
      resource('msf', 'UpdateApplication', { name: 'orders' }),
    ],
    [
      'MSF with PascalCase members',
      msf('StopApplication', { requestParameters: { ApplicationName: 'orders' } }),
      resource('msf', 'StopApplication', { name: 'orders' }),
    ],
    [
      'MSF with the ARN in responseElements',
      msf('UpdateApplication', {
        requestParameters: { applicationName: 'orders' },
        responseElements: {
          applicationDetail: {
            applicationARN: 'arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders',
          },
        },
      }),
      resource('msf', 'UpdateApplication', {
        name: 'orders',
        arn: 'arn:aws:kinesisanalytics:us-east-1:111122223333:application/orders',
      }),
    ],
    [
      'Keyspaces AlterTable (the CQL name of UpdateTable)',
      ks('AlterTable', {
        requestParameters: { keyspaceName: 'shop', tableName: 'orders', rawQuery: 'ALTER TABLE ...' },
      }),
      resource('keyspaces', 'AlterTable', { keyspace: 'shop', table: 'orders' }),
    ],
    [
      'Keyspaces UpdateTable by its API name',
      ks('UpdateTable', { requestParameters: { keyspaceName: 'shop', tableName: 'orders' } }),
      resource('keyspaces', 'UpdateTable', { keyspace: 'shop', table: 'orders' }),
    ],
    [
      'Keyspaces names from the table ARN alone',
      ks('AlterTable', {
        requestParameters: { rawQuery: 'ALTER TABLE ...' },
        resources: [{ type: 'AWS::Cassandra::Table', ARN: tableArn }],
      }),
      resource('keyspaces', 'AlterTable', { keyspace: 'shop', table: 'orders', arn: tableArn }),
    ],
    [
      'EMR Serverless UpdateApplication by id',
      emr('UpdateApplication', { requestParameters: { applicationId: '00fetl0000000001' } }),
      resource('emr-serverless', 'UpdateApplication', { applicationId: '00fetl0000000001' }),
    ],
    [
      'EMR Serverless CreateApplication by the id it answered',
      emr('CreateApplication', {
        requestParameters: { name: 'etl' },
        responseElements: { applicationId: '00fnew0000000001', arn: 'arn:x' },
      }),
      resource('emr-serverless', 'CreateApplication', { applicationId: '00fnew0000000001', arn: 'arn:x' }),
    ],
  ])('%s', (_name, event, expected) => {
    expect(eventTargetsOf(body(event))).toEqual(expected);
  });

  it('EMR Serverless application state changes name the application', () => {
    const change = {
      version: '0',
      'detail-type': 'EMR Serverless Application State Change',
      source: 'aws.emr-serverless',
      region: 'us-east-1',
      detail: { applicationId: '00fetl0000000001', state: 'STOPPED' },
    };
    expect(eventTargetsOf(body(change))).toEqual(
      resource('emr-serverless', 'EMR Serverless Application State Change', {
        applicationId: '00fetl0000000001',
      }),
    );
  });

  it.each([
    [
      'MSF without an application',
      msf('UpdateApplication', { requestParameters: {} }),
      /names no application/,
    ],
    [
      'Keyspaces without a table',
      ks('AlterTable', { requestParameters: { keyspaceName: 'shop' } }),
      /names no table/,
    ],
    [
      'an unwatched workload call',
      ks('CreateKeyspace', { requestParameters: { keyspaceName: 'shop' } }),
      /not watched/,
    ],
    [
      'a failed workload call',
      emr('UpdateApplication', {
        requestParameters: { applicationId: 'a' },
        errorCode: 'ValidationException',
      }),
      /failed/,
    ],
  ])('ignores %s', (_name, event, reason) => {
    expect(eventTargetsOf(body(event))).toEqual({ ignored: expect.stringMatching(reason) });
  });
});

describe('envelopes and wrappers', () => {
  it('reads the region from the envelope, else from the record', () => {
    const event = kms('EnableKey', { requestParameters: { keyId }, awsRegion: 'eu-west-1' });
    expect(eventTargetsOf(body({ ...event, region: undefined }))).toEqual([
      { kind: 'key', ref: keyId, region: 'eu-west-1', eventName: 'EnableKey' },
    ]);
  });

  it('unwraps an SNS notification around the event', () => {
    const event = kms('DisableKey', { responseElements: { keyId: keyArn } });
    const wrapped = {
      Type: 'Notification',
      MessageId: 'm',
      TopicArn: 'arn:aws:sns:us-east-1:1:t',
      Message: body(event),
    };
    expect(eventTargetsOf(body(wrapped))).toEqual([key(keyArn, 'DisableKey')]);
    expect(eventTargetsOf(body({ Type: 'Notification', Message: 42 }))).toEqual({
      ignored: 'an SNS notification without a Message',
    });
  });

  it.each([
    ['malformed JSON', '{"version":', 'not JSON'],
    ['an empty body', '', 'not JSON'],
    ['JSON null', 'null', 'not an EventBridge event'],
    ['a JSON array', '[1,2]', 'not an EventBridge event'],
    ['a string', '"DisableKey"', 'not an EventBridge event'],
    [
      'an object without detail',
      body({ source: 'aws.kms', 'detail-type': 'AWS API Call via CloudTrail' }),
      'not an EventBridge event',
    ],
    ['a foreign source', body(apiCall('aws.s3', 'PutObject')), 'source "aws.s3" is not watched'],
    [
      'a foreign detail-type',
      body({ ...kms('DisableKey'), 'detail-type': 'Scheduled Event' }),
      'detail-type "Scheduled Event" is not watched',
    ],
    ['a record without eventName', body(kms('')), 'the CloudTrail record has no eventName'],
  ])('ignores %s', (_name, text, reason) => {
    expect(eventTargetsOf(text)).toEqual({ ignored: reason });
  });
});

describe('fuzzed input', () => {
  const isAnswer = (r: unknown) =>
    Array.isArray(r)
      ? r.length > 0 &&
        r.every(
          (t) =>
            typeof t.eventName === 'string' &&
            (t.kind === 'key' ? typeof t.ref === 'string' : t.kind === 'resource'),
        )
      : typeof (r as { ignored?: unknown }).ignored === 'string';

  it('any string gives targets or a reason, never an exception', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => isAnswer(eventTargetsOf(s))),
      { numRuns: 500 },
    );
  });

  it('any JSON value gives targets or a reason', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => isAnswer(eventTargetsOf(JSON.stringify(v)))),
      { numRuns: 500 },
    );
  });

  it('a real event with any of its fields replaced by junk gives targets or a reason', () => {
    const sources = ['aws.kms', 'aws.kinesisanalytics', 'aws.cassandra', 'aws.emr-serverless'];
    const names = [
      'DisableKey',
      'UpdateAlias',
      'RotateKey',
      'UpdateApplication',
      'AlterTable',
      'StartApplication',
    ];
    const junk = fc.oneof(fc.jsonValue(), fc.constant(undefined));
    fc.assert(
      fc.property(
        fc.constantFrom(...sources),
        fc.constantFrom(...names),
        fc.record({
          requestParameters: junk,
          responseElements: junk,
          resources: junk,
          errorCode: fc.oneof(fc.constant(undefined), fc.string()),
        }),
        fc.record({
          region: junk,
          resources: junk,
          'detail-type': fc.oneof(fc.constant('AWS API Call via CloudTrail'), fc.string()),
        }),
        (source, eventName, record, envelope) =>
          isAnswer(eventTargetsOf(body(apiCall(source, eventName, record as Record, envelope)))),
      ),
      { numRuns: 1000 },
    );
  });
});
