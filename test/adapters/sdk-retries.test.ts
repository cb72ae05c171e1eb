// The operator's SDK clients (createAwsClients) retry a call AWS throttled more often than a call that
// failed otherwise: a throttled call was refused before it did anything (AWS-006), a 5xx or a timeout
// says nothing of whether it was carried out. Checked against the emulator's fault injection, which
// counts every attempt it refused; the change is a KMS TagResource (the clients' change path).

import { TagResourceCommand } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultRule } from '../../emulator/core/faults.ts';
import { mayRetry } from '../../src/aws/clients.ts';
import { useAdapters } from '../fixtures/aws.ts';

const aws = useAdapters();

afterEach(async () => {
  await aws.admin.clearFaults();
});

/** Tags a new key through the operator's clients under the given faults; the outcome and what AWS refused. */
async function tagUnder(rules: FaultRule[]) {
  const keyId = await aws.newKey();
  await aws.admin.setFaults(rules.map((r) => ({ service: 'kms', operation: 'TagResource', ...r })));
  const outcome = await aws.clients
    .kms(aws.target)
    .send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'team', TagValue: 'payments' }] }))
    .then(
      (out) => ({ ok: true as const, attempts: out.$metadata.attempts }),
      (err: { name: string; $metadata?: { attempts?: number } }) => ({
        ok: false as const,
        name: err.name,
        attempts: err.$metadata?.attempts,
      }),
    );
  return { outcome, refused: await aws.admin.faultCounts() };
}

describe('the SDK clients retry a throttled call more than any other failure', () => {
  it('a change AWS throttles four times goes through on the fifth attempt', async () => {
    const { outcome, refused } = await tagUnder([{ throttleRate: 1, limit: 4 }]);
    expect(outcome).toEqual({ ok: true, attempts: 5 });
    expect(refused).toEqual({ 'kms.TagResource.ThrottlingException': 4 });
  });

  it('throttled five times, the call fails as throttled after five attempts', async () => {
    const { outcome, refused } = await tagUnder([{ throttleRate: 1, limit: 9 }]);
    expect(outcome).toEqual({ ok: false, name: 'ThrottlingException', attempts: 5 });
    expect(refused).toEqual({ 'kms.TagResource.ThrottlingException': 5 });
  });

  it('a 5xx, which may have been carried out, gets three attempts in all', async () => {
    const { outcome, refused } = await tagUnder([{ serverErrorRate: 1, limit: 9 }]);
    expect(outcome.ok).toBe(false);
    expect(outcome.attempts).toBe(3);
    expect(Object.values(refused).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('once any failure was not throttling, throttling gets no attempts beyond the third', async () => {
    const { outcome, refused } = await tagUnder([
      { serverErrorRate: 1, limit: 1 },
      { throttleRate: 1, limit: 9 },
    ]);
    expect(outcome).toEqual({ ok: false, name: 'ThrottlingException', attempts: 3 });
    expect(refused['kms.TagResource.ThrottlingException']).toBe(2);
  });
});

describe('mayRetry', () => {
  const limits = { maxAttempts: 3, throttledAttempts: 5 };
  it('allows throttled-only calls up to throttledAttempts and anything else up to maxAttempts', () => {
    expect([0, 1, 2, 3, 4].map((r) => mayRetry(r, 'THROTTLING', true, limits))).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    expect([0, 1, 2].map((r) => mayRetry(r, 'TRANSIENT', false, limits))).toEqual([true, true, false]);
    expect([0, 1, 2].map((r) => mayRetry(r, 'THROTTLING', false, limits))).toEqual([true, true, false]);
  });
  it('a caller that sets maxAttempts alone gets exactly that many for throttling too', () => {
    const one = { maxAttempts: 1, throttledAttempts: 1 };
    expect(mayRetry(0, 'THROTTLING', true, one)).toBe(false);
  });
});
