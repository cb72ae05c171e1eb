// docs/reliability.md is rendered from what the suites record: the headline table picks each
// suite's headline figures, "anything lost" sums every suite's must-be-zero counts, and a non-zero
// count is shown in bold rather than hidden.

import { describe, expect, it } from 'vitest';
import { renderReliability } from '../../scripts/reliability-report.ts';

const meta = { machine: '2 CPU cores', node: '24.0.0' };
const suite = (suite: string, extra: Record<string, unknown>) => ({
  suite,
  recordedAt: '2026-11-23T12:00:00.000Z',
  title: suite,
  reproduce: `vitest run ${suite}`,
  figures: [],
  lost: {},
  ...extra,
});

describe('reliability report', () => {
  it('puts each headline figure in the summary with the suite that measured it', () => {
    const md = renderReliability(
      [
        suite('crash', { headline: { killsSurvived: 24 }, lost: { 'statuses lost': 0 } }),
        suite('leader-failover', { headline: { takeoverMs: 15_200 } }),
        suite('aws-faults', { headline: { callAmplification: 1.734, faultsInjected: 812 } }),
      ],
      meta,
    );
    expect(md).toContain('| Operator kills survived (kill -9 mid-switch) | 24 (crash) |');
    expect(md).toContain('| Leader takeover after kill -9 | 15.2 s (leader-failover) |');
    expect(md).toContain('1.73x (aws-faults)');
    expect(md).toContain('| Invalid manifests rejected by the API server | not measured |');
    expect(md).toContain('| Anything lost (statuses, changes, invariants broken, leaks) | **0** |');
  });

  it('sums what was lost across suites and shows a non-zero count in bold', () => {
    const md = renderReliability(
      [
        suite('a', { lost: { 'statuses lost': 1, 'duplicate updates': 0 } }),
        suite('b', { lost: { leaks: 2 } }),
      ],
      meta,
    );
    expect(md).toContain('| Anything lost (statuses, changes, invariants broken, leaks) | **3** |');
    expect(md).toContain('| statuses lost | **1** |');
    expect(md).toContain('| duplicate updates | 0 |');
  });

  it('escapes table cells and names the seed and the reproduce command', () => {
    const md = renderReliability(
      [suite('x', { seed: 42, figures: [{ what: 'calls | by op', value: 3, unit: 'calls' }] })],
      meta,
    );
    expect(md).toContain('| calls \\| by op | 3 calls |');
    expect(md).toContain('Reproduce: `vitest run x` (seed 42)');
  });
});
