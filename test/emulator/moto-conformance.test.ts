// Third-party conformance: the KMS scenario of scripts/moto-conformance.ts against moto's server and
// the emulator, compared step by step. CI installs moto (.ci/run); a machine without it fails here
// with the install command rather than silently skipping, so the comparison cannot rot unnoticed.

import { describe, expect, it } from 'vitest';
import {
  type ConformanceReport,
  findMotoPython,
  formatReport,
  installedMoto,
  motoInstallCommand,
  motoVersion,
  runConformance,
  scenario,
} from '../../scripts/moto-conformance.ts';

describe('KMS conformance against moto', () => {
  it('moto is installed where the script looks for it', () => {
    const version = installedMoto();
    if (version === undefined)
      throw new Error(
        `moto is not installed for ${findMotoPython()} (set CMK_MOTO_PYTHON to override). Install it with:\n  ${motoInstallCommand}`,
      );
    expect(version).toBe(motoVersion);
  });

  it('differs from moto only where the allow-list documents why', { timeout: 120_000 }, async () => {
    if (installedMoto() === undefined) throw new Error(`moto is not installed; run: ${motoInstallCommand}`);
    const report: ConformanceReport = await runConformance();
    const table = formatReport(report);
    expect(report.steps).toHaveLength(scenario.length);
    expect(report.unexpected, table).toBe(0);
    // An allow-list entry that nothing uses any more means one side changed: prune it or find out why.
    expect(report.unusedKnown, table).toEqual([]);
    // The scenario must exercise both sides, not compare two identical failures.
    expect(report.steps.filter((s) => s.emulator === 'ok').length).toBeGreaterThan(25);
    expect(report.steps.filter((s) => s.moto === 'ok').length).toBeGreaterThan(25);
  });
});
