// What adopting an existing key costs in KMS calls, counted from the emulator's call log: one read
// of each kind, once. The operator's own finalizer patch does not make it look again, a key named by
// alias is remembered under its ARN too, and the operator's first status write does not throw away
// the reads it was written from. (A long resync keeps resync reads out of the count.)

import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { beforeAll, describe, expect, it } from 'vitest';
import { condition, useOperator } from './support/operator.ts';

const f = useOperator({ resyncMs: 120_000 });
const operatorKey = 'AKIAOPERATOR00000001';
let kms: KMSClient;
beforeAll(() => {
  kms = new KMSClient(f.awsConfig());
});

let n = 0;
async function newKey(alias: string): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Description: `adoption cost ${++n}` }));
  const arn = out.KeyMetadata?.Arn ?? '';
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: arn }));
  return arn;
}

async function operatorKmsCalls(): Promise<string[]> {
  const calls = await f.admin.calls({ service: 'kms' });
  return calls.filter((c) => c.userIdentity.accessKeyId === operatorKey).map((c) => c.eventName);
}

describe('adopting one key', () => {
  it.each([
    ['by alias', (_arn: string, alias: string) => alias],
    ['by ARN', (arn: string) => arn],
  ])('%s costs at most 3 KMS calls, each read once', { timeout: 60_000 }, async (_label, ref) => {
    const alias = `alias/adoption-cost-${n + 1}`;
    const arn = await newKey(alias);
    await f.admin.clearCalls();
    const name = `adopt-cost-${n}`;
    await f.create('KmsKey', name, { keyId: ref(arn, alias) });
    const ready = condition('Ready', 'True');
    const o = await f.waitFor<{ status?: { keyArn?: string; conditions?: [] } }>(
      'KmsKey',
      name,
      (x) => (ready(x) ? x : undefined),
      `${name} Ready`,
    );
    expect(o.status?.keyArn).toBe(arn);
    // Anything the adoption set off (the status write, the finalizer) has had time to run again.
    await new Promise((r) => setTimeout(r, 2000));
    const calls = await operatorKmsCalls();
    expect(calls.length, calls.join(', ')).toBeLessThanOrEqual(3);
    expect(new Set(calls).size, `each read once: ${calls.join(', ')}`).toBe(calls.length);
    expect(calls).toContain('DescribeKey');
  });
});
