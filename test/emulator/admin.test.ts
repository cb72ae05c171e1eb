// The admin API, driven through the typed client (emulator/client.ts) the way tests in another
// process steer the emulator, with its effects observed through the real AWS SDK clients: seeding,
// reset, config, the clock, fault injection, the call log, loopback-only binding and routing errors.

import { readFile } from 'node:fs/promises';
import { EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, KeyspacesClient } from '@aws-sdk/client-keyspaces';
import { DescribeApplicationCommand, KinesisAnalyticsV2Client } from '@aws-sdk/client-kinesis-analytics-v2';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { emulatorAdmin } from '../../emulator/client.ts';
import { type RunningEmulator, startEmulator } from '../../emulator/index.ts';
import { sdkFailure, useEmulator } from '../fixtures/emulator.ts';

const fixture = useEmulator();
const frozenAt = Date.UTC(2026, 10, 23, 12, 0, 0);
const kms = (opts?: { accessKeyId?: string }) => new KMSClient(fixture.clientConfig(opts));

async function newKey(client = kms()) {
  const out = await client.send(new CreateKeyCommand({ Description: 'admin test' }));
  return out.KeyMetadata!;
}

describe('health, reset, seed and config', () => {
  it('reports health with the clock and every service', async () => {
    const health = await fixture.admin.health();
    expect(health.ok).toBe(true);
    expect(health.now).toBe(frozenAt);
    expect(health.mode).toBe('frozen');
    expect(health.services).toEqual(
      expect.arrayContaining(['kms', 'kinesisanalytics', 'cassandra', 'emr-serverless', 'sts']),
    );
  });

  it('reset forgets every resource, identity, fault and call', async () => {
    const key = await newKey();
    await fixture.admin.seed({
      principals: [{ accessKeyId: 'AKIARESETME000000001', arn: 'arn:aws:iam::111122223333:user/x' }],
    });
    await fixture.admin.addFault({ service: 'kms', operation: 'ListKeys', throttleRate: 1 });
    await fixture.admin.reset();

    const err = await sdkFailure(kms().send(new DescribeKeyCommand({ KeyId: key.KeyId! })));
    expect(err.name).toBe('NotFoundException');
    const who = await new STSClient(fixture.clientConfig({ accessKeyId: 'AKIARESETME000000001' })).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe('arn:aws:iam::111122223333:root');
    expect(await fixture.admin.faultCounts()).toEqual({});
    // Only the calls made since the reset remain.
    expect((await fixture.admin.calls()).map((c) => c.eventName)).toEqual([
      'DescribeKey',
      'GetCallerIdentity',
    ]);
  });

  it('reset takes config overrides, such as the account resources are created in', async () => {
    await fixture.admin.reset({ accountId: '999988887777' });
    const key = await newKey();
    expect(key.AWSAccountId).toBe('999988887777');
    expect(key.Arn).toMatch(/^arn:aws:kms:us-east-1:999988887777:key\//);
    // The override is for that world only; the next reset starts from the startup config again.
    await fixture.admin.reset();
    expect((await newKey()).AWSAccountId).toBe('111122223333');
  });

  it('seeds principals from a YAML document', async () => {
    await fixture.admin.seed(
      [
        'principals:',
        '  - accessKeyId: AKIAYAMLSEEDED000001',
        '    arn: arn:aws:iam::111122223333:user/from-yaml',
        '    iamAllow: ["kms:*"]',
        'roles:',
        '  - arn: arn:aws:iam::111122223333:role/yaml-role',
      ].join('\n'),
    );
    const who = await new STSClient(fixture.clientConfig({ accessKeyId: 'AKIAYAMLSEEDED000001' })).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe('arn:aws:iam::111122223333:user/from-yaml');
    expect((await fixture.admin.state())['sts']).toMatchObject({
      roles: ['arn:aws:iam::111122223333:role/yaml-role'],
    });
  });

  it('loads examples/emulator-seed.yaml: keys, aliases and one workload of each service', async () => {
    await fixture.admin.seed(
      await readFile(new URL('../../examples/emulator-seed.yaml', import.meta.url), 'utf8'),
    );
    const keyA = (await kms().send(new DescribeKeyCommand({ KeyId: 'alias/workloads-a' }))).KeyMetadata!;
    const keyB = (await kms().send(new DescribeKeyCommand({ KeyId: 'alias/workloads-next' }))).KeyMetadata!;
    expect([keyA.KeyState, keyB.KeyState]).toEqual(['Enabled', 'Enabled']);
    const flink = await new KinesisAnalyticsV2Client(fixture.clientConfig()).send(
      new DescribeApplicationCommand({ ApplicationName: 'orders-enrichment' }),
    );
    expect(flink.ApplicationDetail!.ApplicationStatus).toBe('RUNNING');
    expect(
      flink.ApplicationDetail!.ApplicationConfigurationDescription!
        .ApplicationEncryptionConfigurationDescription,
    ).toEqual({ KeyType: 'CUSTOMER_MANAGED_KEY', KeyId: keyA.Arn });
    const table = await new KeyspacesClient(fixture.clientConfig()).send(
      new GetTableCommand({ keyspaceName: 'shop', tableName: 'orders' }),
    );
    expect(table.encryptionSpecification).toEqual({
      type: 'CUSTOMER_MANAGED_KMS_KEY',
      kmsKeyIdentifier: keyB.Arn,
    });
    const emr = await new EMRServerlessClient(fixture.clientConfig()).send(
      new GetApplicationCommand({ applicationId: '00etl0000000001' }),
    );
    expect(emr.application).toMatchObject({ name: 'nightly-etl', state: 'CREATED' });
    // A REST call's record names the resource its path names, as CloudTrail's does.
    const [emrCall] = await fixture.admin.calls({ service: 'emr-serverless', eventName: 'GetApplication' });
    expect(emrCall!.requestParameters).toEqual({ applicationId: '00etl0000000001' });
    // The seeded operator principal and role.
    const sts = new STSClient(fixture.clientConfig({ accessKeyId: 'AKIACMKOPERATOR00001' }));
    expect((await sts.send(new GetCallerIdentityCommand({}))).Arn).toBe(
      'arn:aws:iam::111122223333:user/cmk-operator',
    );
    const session = await sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::111122223333:role/cmk-operator-tenant',
        RoleSessionName: 'demo',
      }),
    );
    expect(session.AssumedRoleUser!.Arn).toBe(
      'arn:aws:sts::111122223333:assumed-role/cmk-operator-tenant/demo',
    );
  });

  it('seeds principals from a JSON document and rejects a malformed seed', async () => {
    await fixture.admin.seed({
      principals: [{ accessKeyId: 'AKIAJSONSEEDED000001', arn: 'arn:aws:iam::111122223333:user/from-json' }],
    });
    const who = await new STSClient(fixture.clientConfig({ accessKeyId: 'AKIAJSONSEEDED000001' })).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe('arn:aws:iam::111122223333:user/from-json');
    await expect(
      fixture.admin.seed({ principals: [{ arn: 'arn:aws:iam::111122223333:user/no-key' }] }),
    ).rejects.toThrow(/400.*each principal needs accessKeyId and arn/);
  });

  it('patches config in place, keeping the members not named', async () => {
    const before = await fixture.admin.patchConfig({});
    const after = await fixture.admin.patchConfig({
      onDemandRotationCap: 25,
      transitions: { default: { min: 5000, max: 5000 } },
    });
    expect(after).toMatchObject({
      onDemandRotationCap: 25,
      transitions: { default: { min: 5000, max: 5000 } },
      accountId: before['accountId'],
      aliasesPerKey: before['aliasesPerKey'],
    });
    expect(fixture.emulator.world().transitionMs('kinesisanalytics.UPDATING')).toBe(5000);
  });
});

describe('clock', () => {
  it('freezes, advances by ms/seconds/days and sets, and resources carry the emulator time', async () => {
    await fixture.admin.freeze(Date.UTC(2027, 0, 1));
    expect((await newKey()).CreationDate).toEqual(new Date(Date.UTC(2027, 0, 1)));

    const advanced = await fixture.admin.advance({ days: 1, seconds: 30, ms: 5 });
    expect(advanced.now).toBe(Date.UTC(2027, 0, 2, 0, 0, 30, 5));
    expect((await newKey()).CreationDate).toEqual(new Date(Date.UTC(2027, 0, 2, 0, 0, 30, 5)));

    const set = await fixture.admin.setClock('2028-02-29T08:00:00Z');
    expect(set).toMatchObject({ now: Date.UTC(2028, 1, 29, 8), mode: 'frozen' });
    expect(await fixture.admin.clock()).toMatchObject({ now: Date.UTC(2028, 1, 29, 8), mode: 'frozen' });
  });

  it('a frozen clock stands still; after unfreeze it follows wall time from where it stood', async () => {
    const t0 = (await fixture.admin.clock()).now;
    await new Promise((r) => setTimeout(r, 30));
    expect((await fixture.admin.clock()).now).toBe(t0);

    await fixture.admin.unfreeze();
    await new Promise((r) => setTimeout(r, 60));
    const later = await fixture.admin.clock();
    expect(later.mode).toBe('wall');
    expect(later.now).toBeGreaterThanOrEqual(t0 + 50);
    expect(later.now).toBeLessThan(t0 + 10_000);

    // Advancing a running clock shifts it without stopping it.
    const shifted = await fixture.admin.advance({ days: 2 });
    expect(shifted.now).toBeGreaterThanOrEqual(t0 + 2 * 86_400_000);
  });

  it('rejects a negative advance and an unparseable date', async () => {
    await expect(fixture.admin.advance({ ms: -1 })).rejects.toThrow(/400/);
    await expect(fixture.admin.setClock('not a date')).rejects.toThrow(/400/);
  });
});

describe('fault injection', () => {
  it('adds latency to the matching operation only', async () => {
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'DescribeKey',
      latencyMs: { min: 150, max: 150 },
    });
    const key = await newKey();
    let t = performance.now();
    await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId! }));
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
    t = performance.now();
    await newKey();
    expect(performance.now() - t).toBeLessThan(140);
  });

  it('throttleRate 1.0 surfaces as ThrottlingException through the SDK (maxAttempts 1)', async () => {
    await fixture.admin.setFaults([{ service: 'kms', operation: '*', throttleRate: 1 }]);
    const err = await sdkFailure(newKey());
    expect(err.name).toBe('ThrottlingException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(await fixture.admin.faultCounts()).toEqual({ 'kms.CreateKey.ThrottlingException': 1 });
    // Other services are untouched.
    await new STSClient(fixture.clientConfig()).send(new GetCallerIdentityCommand({}));
  });

  it('serverErrorRate 1.0 answers with a 5xx the SDK classifies as a server fault', async () => {
    await fixture.admin.setFaults([{ service: 'kms', serverErrorRate: 1 }]);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const err = await sdkFailure(newKey());
      expect(['InternalFailure', 'ServiceUnavailableException']).toContain(err.name);
      expect(err.$metadata.httpStatusCode).toBe(err.name === 'InternalFailure' ? 500 : 503);
      expect(err.$fault).toBe('server');
      seen.add(err.name);
    }
    expect(seen.size).toBe(2);
  });

  it('injects a chosen error code with its status, as the modelled exception class', async () => {
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'CreateKey',
      error: { code: 'KMSInternalException', status: 500, message: 'boom', rate: 1 },
    });
    const err = await sdkFailure(newKey());
    expect(err.name).toBe('KMSInternalException');
    expect(err.message).toBe('boom');
    expect(err.$metadata.httpStatusCode).toBe(500);
  });

  it('a quota lets a burst through, then throttles', async () => {
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'CreateKey',
      quota: { ratePerSecond: 0.001, burst: 3 },
    });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++)
      outcomes.push(
        await newKey().then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      );
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ThrottlingException', 'ThrottlingException']);
  });

  it('a quota refills at its sustained rate in real time', async () => {
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'CreateKey',
      quota: { ratePerSecond: 20, burst: 1 },
    });
    await newKey();
    expect((await sdkFailure(newKey())).name).toBe('ThrottlingException');
    await new Promise((r) => setTimeout(r, 120));
    await newKey();
  });

  it('a quota is one bucket per Region: a Region that used its burst does not throttle another', async () => {
    await fixture.admin.addFault({
      service: 'kms',
      operation: 'CreateKey',
      quota: { ratePerSecond: 0.001, burst: 2 },
    });
    const inRegion = (region: string) => new KMSClient({ ...fixture.clientConfig(), region, maxAttempts: 1 });
    const east = inRegion('us-east-1');
    const west = inRegion('eu-west-1');
    const outcome = (client: KMSClient) =>
      newKey(client).then(
        () => 'ok',
        (e: Error) => e.name,
      );
    const seen: string[] = [];
    for (const client of [east, east, east, west, west, west]) seen.push(await outcome(client));
    expect(seen).toEqual(['ok', 'ok', 'ThrottlingException', 'ok', 'ok', 'ThrottlingException']);
  });

  it('stops injecting after `limit` faults', async () => {
    await fixture.admin.addFault({ service: 'kms', throttleRate: 1, limit: 2 });
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++)
      outcomes.push(
        await newKey().then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      );
    expect(outcomes).toEqual(['ThrottlingException', 'ThrottlingException', 'ok', 'ok']);
  });

  it('clearing the rules stops injection', async () => {
    await fixture.admin.addFault({ service: '*', throttleRate: 1 });
    expect((await sdkFailure(newKey())).name).toBe('ThrottlingException');
    await fixture.admin.clearFaults();
    await newKey();
  });

  describe('determinism', () => {
    const extra: RunningEmulator[] = [];
    afterAll(async () => {
      await Promise.all(extra.map((e) => e.close()));
    });

    async function run(seed: number): Promise<string[]> {
      const emulator = await startEmulator({ config: { seed } });
      extra.push(emulator);
      const admin = emulatorAdmin(emulator.url);
      await admin.setFaults([
        { service: 'kms', operation: 'CreateKey', throttleRate: 0.3 },
        { service: 'kms', serverErrorRate: 0.2 },
      ]);
      const client = new KMSClient({ ...fixture.clientConfig(), endpoint: emulator.url });
      const outcomes: string[] = [];
      for (let i = 0; i < 40; i++) {
        const op =
          i % 2 === 0
            ? client.send(new CreateKeyCommand({}))
            : client.send(new DescribeKeyCommand({ KeyId: 'alias/none' }));
        outcomes.push(
          await op.then(
            () => 'ok',
            (e: Error) => e.name,
          ),
        );
      }
      return outcomes;
    }

    it('the same seed and call sequence inject the same faults; another seed differs', async () => {
      const a = await run(7);
      const b = await run(7);
      const c = await run(8);
      expect(a).toEqual(b);
      expect(new Set(a)).toEqual(
        new Set([
          'ok',
          'ThrottlingException',
          'InternalFailure',
          'ServiceUnavailableException',
          'NotFoundException',
        ]),
      );
      expect(c).not.toEqual(a);
    });
  });
});

describe('call log', () => {
  it('records event name, caller, parameters with encryption context, and error codes', async () => {
    await fixture.admin.seed({
      principals: [{ accessKeyId: 'AKIAAUDITEDUSER00001', arn: 'arn:aws:iam::111122223333:user/audited' }],
    });
    const client = kms({ accessKeyId: 'AKIAAUDITEDUSER00001' });
    const key = await newKey(client);
    await client.send(
      new EncryptCommand({
        KeyId: key.KeyId!,
        Plaintext: new TextEncoder().encode('top secret'),
        EncryptionContext: { tenant: 'acme' },
      }),
    );
    await sdkFailure(client.send(new DescribeKeyCommand({ KeyId: 'alias/missing' })));

    const calls = await fixture.admin.calls({ service: 'kms' });
    expect(calls.map((c) => [c.eventName, c.errorCode])).toEqual([
      ['CreateKey', undefined],
      ['Encrypt', undefined],
      ['DescribeKey', 'NotFoundException'],
    ]);
    const encrypt = calls[1]!;
    expect(encrypt).toMatchObject({
      eventSource: 'kms.amazonaws.com',
      awsRegion: 'us-east-1',
      eventTime: frozenAt,
      userIdentity: {
        arn: 'arn:aws:iam::111122223333:user/audited',
        accessKeyId: 'AKIAAUDITEDUSER00001',
        type: 'user',
      },
      requestParameters: { KeyId: key.KeyId, EncryptionContext: { tenant: 'acme' }, Plaintext: '***' },
    });
    expect(JSON.stringify(calls)).not.toContain(Buffer.from('top secret').toString('base64'));
    expect(calls[2]!.errorMessage).toBeTruthy();
  });

  it('marks injected faults and filters by eventName, errorCode and since', async () => {
    const key = await newKey();
    const [first] = await fixture.admin.calls();
    await fixture.admin.addFault({ service: 'kms', operation: 'DescribeKey', throttleRate: 1, limit: 1 });
    await sdkFailure(kms().send(new DescribeKeyCommand({ KeyId: key.KeyId! })));
    await kms().send(new DescribeKeyCommand({ KeyId: key.KeyId! }));

    const throttled = await fixture.admin.calls({ errorCode: 'ThrottlingException' });
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ eventName: 'DescribeKey', injected: true });
    expect((await fixture.admin.calls({ eventName: 'DescribeKey' })).length).toBe(2);
    const since = await fixture.admin.calls({ since: first!.eventId });
    expect(since.map((c) => c.eventName)).toEqual(['DescribeKey', 'DescribeKey']);
    expect(since.every((c) => c.eventId > first!.eventId)).toBe(true);

    await fixture.admin.clearCalls();
    expect(await fixture.admin.calls()).toEqual([]);
  });

  it('redacts ciphertext in requests', async () => {
    const raw = await fetch(`${fixture.emulator.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Decrypt' },
      body: JSON.stringify({ CiphertextBlob: 'c2VjcmV0LWNpcGhlcnRleHQ=', KeyId: 'alias/none' }),
    });
    await raw.text();
    const [decrypt] = await fixture.admin.calls({ eventName: 'Decrypt' });
    expect(decrypt!.requestParameters).toMatchObject({ CiphertextBlob: '***', KeyId: 'alias/none' });
  });
});

describe('binding and routing', () => {
  it('refuses to listen on a non-loopback address', async () => {
    await expect(startEmulator({ host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0/,
    );
  });

  const post = (headers: Record<string, string>, body = '{}', path = '/') =>
    fetch(`${fixture.emulator.url}${path}`, { method: 'POST', headers, body });

  it('answers an unknown X-Amz-Target prefix with UnknownOperationException', async () => {
    const res = await post({
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'NoSuchService.Go',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('answers an unknown operation of a known service with UnknownOperationException', async () => {
    const res = await post({
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.Nope',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('rejects the wrong Content-Type for a JSON-RPC service', async () => {
    const kmsAsJson10 = await post({
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'TrentService.DescribeKey',
    });
    expect(kmsAsJson10.status).toBe(400);
    expect(await kmsAsJson10.json()).toMatchObject({ __type: 'SerializationException' });
    const keyspacesAsJson11 = await post({
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'KeyspacesService.ListKeyspaces',
    });
    expect(await keyspacesAsJson11.json()).toMatchObject({ __type: 'SerializationException' });
  });

  it('rejects a body that is not JSON', async () => {
    const res = await post(
      { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' },
      '{not json',
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'SerializationException' });
  });

  it('answers an unknown REST path with 404 and an error type header', async () => {
    const res = await fetch(`${fixture.emulator.url}/no/such/path`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(((await res.json()) as { message: string }).message).toContain('GET /no/such/path');
  });

  it('answers an unknown admin route with 404', async () => {
    const res = await fetch(`${fixture.emulator.url}/_emulator/nope`);
    expect(res.status).toBe(404);
  });
});
