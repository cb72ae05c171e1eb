import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Condition,
  findCondition,
  kstatusViolations,
  removeCondition,
  setCondition,
  withKstatus,
} from '../../src/runtime/conditions.ts';

const t0 = Date.parse('2026-11-23T10:00:00Z');
const t1 = t0 + 60_000;

describe('setCondition (apimachinery semantics)', () => {
  it('adds a condition with observedGeneration and a transition time in whole seconds', () => {
    const conditions = setCondition(
      [],
      { type: 'KeyUsable', status: 'True', reason: 'KeyEnabled', message: 'ok' },
      { generation: 3, now: t0 + 123 },
    );
    expect(conditions).toEqual([
      {
        type: 'KeyUsable',
        status: 'True',
        reason: 'KeyEnabled',
        message: 'ok',
        observedGeneration: 3,
        lastTransitionTime: '2026-11-23T10:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    const first = setCondition(
      [],
      { type: 'A', status: 'False', reason: 'Pending' },
      { generation: 1, now: t0 },
    );
    const second = setCondition(
      first,
      { type: 'A', status: 'False', reason: 'StillPending', message: 'x' },
      { generation: 2, now: t1 },
    );
    expect(second[0]).toMatchObject({
      reason: 'StillPending',
      message: 'x',
      observedGeneration: 2,
      lastTransitionTime: '2026-11-23T10:00:00Z',
    });
  });

  it('changes lastTransitionTime when the status changes', () => {
    const first = setCondition(
      [],
      { type: 'A', status: 'False', reason: 'Pending' },
      { generation: 1, now: t0 },
    );
    const second = setCondition(
      first,
      { type: 'A', status: 'True', reason: 'Done' },
      { generation: 1, now: t1 },
    );
    expect(second[0]!.lastTransitionTime).toBe('2026-11-23T10:01:00Z');
  });

  it('never mutates its input', () => {
    const first = setCondition(
      [],
      { type: 'A', status: 'False', reason: 'Pending' },
      { generation: 1, now: t0 },
    );
    const frozen = structuredClone(first);
    setCondition(first, { type: 'A', status: 'True', reason: 'Done' }, { generation: 2, now: t1 });
    removeCondition(first, 'A');
    expect(first).toEqual(frozen);
  });

  it('orders Ready, Reconciling, Stalled first, then by type, whatever the order of calls', () => {
    const stamp = { generation: 1, now: t0 };
    let a: Condition[] = [];
    for (const type of ['Zeta', 'Stalled', 'Alpha', 'Ready', 'Reconciling']) {
      a = setCondition(a, { type, status: 'True', reason: 'R' }, stamp);
    }
    let b: Condition[] = [];
    for (const type of ['Ready', 'Alpha', 'Reconciling', 'Zeta', 'Stalled']) {
      b = setCondition(b, { type, status: 'True', reason: 'R' }, stamp);
    }
    expect(a.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled', 'Alpha', 'Zeta']);
    expect(b).toEqual(a);
  });

  it('any conditions, in any order (a status someone else wrote), come out in that one order', () => {
    const stamp = { generation: 1, now: t0 };
    const type = fc.constantFrom('Ready', 'Reconciling', 'Stalled', 'KeyCurrent', 'KeyUsable', 'A', 'a', 'Z');
    const condition = (t: string): Condition => ({
      type: t,
      status: 'True',
      reason: 'R',
      message: '',
      lastTransitionTime: '2026-11-23T10:00:00Z',
    });
    fc.assert(
      fc.property(fc.uniqueArray(type, { maxLength: 8 }), type, (types, added) => {
        const out = setCondition(types.map(condition), { type: added, status: 'False', reason: 'R' }, stamp);
        const expected = [...new Set([...types, added])].sort((x, y) => {
          const rank = (t: string) => ['Ready', 'Reconciling', 'Stalled'].indexOf(t) >>> 0;
          return rank(x) - rank(y) || (x < y ? -1 : x > y ? 1 : 0);
        });
        expect(out.map((c) => c.type)).toEqual(expected);
      }),
    );
  });

  it('rejects reasons that are not CamelCase and caps messages at 32 KiB', () => {
    const stamp = { generation: 1, now: t0 };
    for (const reason of ['', 'key disabled', '1Bad', 'Bad-Dash', 'Trailing,']) {
      expect(() => setCondition([], { type: 'A', status: 'True', reason }, stamp)).toThrow(/CamelCase/);
    }
    for (const reason of ['KeyDisabled', 'a', 'Reason_With_Underscore', 'A1,B2:C3']) {
      expect(() => setCondition([], { type: 'A', status: 'True', reason }, stamp)).not.toThrow();
    }
    const long = setCondition(
      [],
      { type: 'A', status: 'True', reason: 'R', message: 'x'.repeat(40_000) },
      stamp,
    );
    expect(long[0]!.message).toHaveLength(32_768);
  });

  it('omits observedGeneration when the generation is unknown', () => {
    const c = setCondition(
      [],
      { type: 'A', status: 'True', reason: 'R' },
      { generation: undefined, now: t0 },
    );
    expect(c[0]).not.toHaveProperty('observedGeneration');
  });
});

describe('withKstatus', () => {
  const stamp = { generation: 4, now: t0 };
  const domainTrue = setCondition([], { type: 'KeyUsable', status: 'True', reason: 'KeyEnabled' }, stamp);

  it('Ready=True when every domain condition is True and nothing is in flight', () => {
    const c = withKstatus(domainTrue, { readyWhen: ['KeyUsable'] }, stamp);
    expect(findCondition(c, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(findCondition(c, 'Reconciling')).toBeUndefined();
    expect(findCondition(c, 'Stalled')).toBeUndefined();
  });

  it('Ready=Unknown with the reconciling reason while reconciling', () => {
    const c = withKstatus(
      domainTrue,
      { readyWhen: ['KeyUsable'], reconciling: { reason: 'Updating', message: 'AWS is UPDATING' } },
      stamp,
    );
    expect(findCondition(c, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Updating' });
    expect(findCondition(c, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'Updating' });
  });

  it('Stalled wins over Reconciling and makes Ready False', () => {
    const c = withKstatus(
      domainTrue,
      {
        readyWhen: ['KeyUsable'],
        reconciling: { reason: 'Updating', message: '' },
        stalled: { reason: 'KeyNotSymmetric', message: 'asymmetric keys cannot encrypt' },
      },
      stamp,
    );
    expect(findCondition(c, 'Stalled')).toMatchObject({ status: 'True', reason: 'KeyNotSymmetric' });
    expect(findCondition(c, 'Reconciling')).toBeUndefined();
    expect(findCondition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'KeyNotSymmetric' });
  });

  it('Ready carries the first failing domain condition', () => {
    let c = setCondition(
      domainTrue,
      { type: 'Encrypted', status: 'False', reason: 'WrongKey', message: 'on aws/owned' },
      stamp,
    );
    c = withKstatus(c, { readyWhen: ['KeyUsable', 'Encrypted'] }, stamp);
    expect(findCondition(c, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'WrongKey',
      message: 'on aws/owned',
    });
  });

  it('Ready=Unknown when a required domain condition was never reported', () => {
    const c = withKstatus(domainTrue, { readyWhen: ['KeyUsable', 'Encrypted'] }, stamp);
    expect(findCondition(c, 'Ready')).toMatchObject({ status: 'Unknown' });
  });

  it('is idempotent: the same input twice gives a deep-equal status (no spurious writes)', () => {
    const input = { readyWhen: ['KeyUsable'], reconciling: { reason: 'Updating', message: 'x' } };
    const once = withKstatus(domainTrue, input, stamp);
    const twice = withKstatus(once, input, { generation: 4, now: t1 });
    expect(twice).toEqual(once);
  });

  it('never violates the kstatus invariants, whatever the sequence of inputs (property)', () => {
    const reason = fc.constantFrom('Updating', 'KeyDisabled', 'Throttled', 'Done');
    const step = fc.record({
      reconciling: fc.option(fc.record({ reason, message: fc.string() }), { nil: undefined }),
      stalled: fc.option(fc.record({ reason, message: fc.string() }), { nil: undefined }),
      domain: fc.constantFrom<'True' | 'False' | 'Unknown'>('True', 'False', 'Unknown'),
      generation: fc.integer({ min: 1, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 20 }), (steps) => {
        let conditions: Condition[] = [];
        let now = t0;
        let generation = 0;
        for (const s of steps) {
          generation = Math.max(generation, s.generation);
          now += 1_000;
          const stampNow = { generation, now };
          conditions = setCondition(
            conditions,
            { type: 'KeyUsable', status: s.domain, reason: 'Checked' },
            stampNow,
          );
          const input = {
            readyWhen: ['KeyUsable'],
            ...(s.reconciling ? { reconciling: s.reconciling } : {}),
            ...(s.stalled ? { stalled: s.stalled } : {}),
          };
          conditions = withKstatus(conditions, input, stampNow);
          expect(kstatusViolations(conditions, generation)).toEqual([]);
        }
      }),
    );
  });
});

describe('kstatusViolations', () => {
  const c = (type: string, status: 'True' | 'False' | 'Unknown', observedGeneration = 1): Condition => ({
    type,
    status,
    reason: 'R',
    message: '',
    observedGeneration,
    lastTransitionTime: '2026-11-23T10:00:00Z',
  });

  it('reports each broken invariant', () => {
    expect(kstatusViolations([], 1)).toEqual(['Ready condition missing']);
    expect(kstatusViolations([c('Ready', 'True'), c('Reconciling', 'True')], 1)).toContain(
      'Ready=True while Reconciling',
    );
    expect(kstatusViolations([c('Ready', 'True'), c('Stalled', 'True')], 1)).toContain(
      'Ready=True while Stalled',
    );
    expect(
      kstatusViolations([c('Ready', 'False'), c('Reconciling', 'True'), c('Stalled', 'True')], 1),
    ).toEqual(['Reconciling and Stalled both True']);
    expect(kstatusViolations([c('Ready', 'True', 3)], 2)).toEqual([
      'Ready: observedGeneration 3 > generation 2',
    ]);
    expect(kstatusViolations([c('Ready', 'True'), c('Ready', 'True')], 1)).toEqual([
      'duplicate condition types',
    ]);
  });
});
