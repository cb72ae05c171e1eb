// An on-demand rotation retried after a throttled call keeps the time it was first requested at, so
// its intent is not written again (retriedRequestAt, src/reconcile/kmskey-actions.ts).

import { describe, expect, it } from 'vitest';
import { retriedRequestAt } from '../../src/reconcile/kmskey-actions.ts';
import { sameIntentMs } from '../../src/reconcile/types.ts';

const at = Date.parse('2026-12-07T12:00:00.000Z');
const stored = { token: 'once', requestedAt: '2026-12-07T12:00:00.000Z' };

describe('retriedRequestAt', () => {
  it('keeps the stored time for the same token asked for again within sameIntentMs', () => {
    expect(retriedRequestAt(stored, 'once', at + 2_000)).toBe(stored.requestedAt);
    expect(retriedRequestAt(stored, 'once', at + sameIntentMs)).toBe(stored.requestedAt);
  });

  it('takes now for another token, an older intent, one from the future, or none', () => {
    const now = at + 2_000;
    const iso = new Date(now).toISOString();
    expect(retriedRequestAt(stored, 'twice', now)).toBe(iso);
    expect(retriedRequestAt(stored, 'once', at + sameIntentMs + 1)).toBe(
      new Date(at + sameIntentMs + 1).toISOString(),
    );
    expect(retriedRequestAt(stored, 'once', at - 1)).toBe(new Date(at - 1).toISOString());
    expect(retriedRequestAt(undefined, 'once', now)).toBe(iso);
    expect(retriedRequestAt({ token: 'once' }, 'once', now)).toBe(iso);
  });
});
