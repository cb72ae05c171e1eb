import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ErrorCause, errorCauses } from '../../src/aws/errors.ts';
import { outcomeFor, outcomeReasons, planOutcomeFor } from '../../src/runtime/outcome.ts';

const failure = (cause: ErrorCause) => ({ cause, code: `${cause}Code`, message: `${cause} happened` });

describe('outcomeFor: one failure → outcome map for every kind', () => {
  it.each([
    // cause            during      kind         reason
    ['AccessDenied', 'act', 'stalled', 'AccessDenied'],
    ['AccessDenied', 'observe', 'stalled', 'AccessDenied'],
    ['InvalidSpec', 'act', 'stalled', 'AwsRejected'],
    ['InvalidSpec', 'observe', 'stalled', 'AwsRejected'],
    ['QuotaExceeded', 'act', 'stalled', 'QuotaExceeded'],
    ['Throttled', 'act', 'transient', 'Retrying'],
    ['Throttled', 'observe', 'waiting', 'AwsUnavailable'],
    ['Conflict', 'act', 'transient', 'Retrying'],
    ['Transient', 'observe', 'waiting', 'AwsUnavailable'],
    ['KeyUnusable', 'act', 'transient', 'Retrying'],
    ['NotFound', 'act', 'transient', 'Retrying'],
    ['Unknown', 'act', 'transient', 'Retrying'],
  ] as const)('%s during %s → %s (%s)', (cause, during, kind, reason) => {
    expect(outcomeFor(failure(cause), during)).toEqual({ kind, reason });
  });

  it('answers every cause with a reason from the exported vocabulary', () => {
    for (const cause of errorCauses) {
      for (const during of ['observe', 'act'] as const) {
        const o = outcomeFor(failure(cause), during);
        expect(outcomeReasons[o.kind] as readonly string[]).toContain(o.reason);
      }
    }
  });

  it('a failed read becomes a plan outcome: stalled with the message, or waiting for retryAfterMs', () => {
    expect(planOutcomeFor(failure('AccessDenied'), 'denied', 5000)).toEqual({
      kind: 'stalled',
      reason: 'AccessDenied',
      message: 'denied',
    });
    expect(planOutcomeFor(failure('Throttled'), 'slow down', 5000)).toEqual({
      kind: 'waiting',
      reason: 'AwsUnavailable',
      message: 'slow down',
      retryAfterMs: 5000,
    });
  });
});

describe('the Argo CD health checks read the vocabulary the same way', () => {
  const template = readFileSync('argocd/health.lua.template', 'utf8');
  const block = template.slice(template.indexOf('local transientReasons = {'));
  const transient = new Set(
    [...block.slice(0, block.indexOf('}')).matchAll(/^\s+([A-Za-z]+) = true,$/gm)].map((m) => m[1]),
  );

  it('shows waiting and transient failures as Progressing (the operator recovers by itself)', () => {
    for (const reason of [...outcomeReasons.waiting, ...outcomeReasons.transient])
      expect(transient).toContain(reason);
  });

  it('shows failures only a person can fix as Degraded, never as Progressing', () => {
    for (const reason of outcomeReasons.stalled) expect(transient).not.toContain(reason);
  });
});
