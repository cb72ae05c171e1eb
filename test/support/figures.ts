// Figures a reliability or security suite reports, for docs/reliability.md. Each suite writes one
// JSON file named after it into CMK_FIGURES_DIR (default .testenv/figures); the report script
// (scripts/reliability-report.ts) renders every file it finds there. Recording never fails a test:
// the figures are a by-product of the assertions, not a substitute for them.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Figure {
  what: string;
  value: string | number;
  unit?: string;
}

export interface SuiteFigures {
  /** Section title in docs/reliability.md, e.g. "Crash safety (kill -9 during a key switch)". */
  title: string;
  /** The command that reproduces the figures. */
  reproduce: string;
  /** PRNG seed the run used, when it used one. */
  seed?: number;
  figures: Figure[];
  /**
   * Things that must be zero, by name (e.g. "statuses lost", "mutations from a non-leader").
   * The suite asserts they are zero; they are recorded so the report shows the measured count.
   */
  lost: Record<string, number>;
  /** Headline figures the report's summary table picks up, when the suite has them. */
  headline?: {
    killsSurvived?: number;
    faultsInjected?: number;
    badInputsRejected?: number;
    takeoverMs?: number;
    /** AWS calls made / minimum needed. */
    callAmplification?: number;
  };
}

export function figuresDir(): string {
  return process.env['CMK_FIGURES_DIR'] ?? join(process.cwd(), '.testenv', 'figures');
}

/** Writes `<figuresDir>/<suite>.json` (atomically: a reader never sees half a file). */
export function recordFigures(suite: string, figures: SuiteFigures): void {
  try {
    const dir = figuresDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${suite}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(
      tmp,
      `${JSON.stringify({ suite, recordedAt: new Date().toISOString(), ...figures }, null, 2)}\n`,
    );
    renameSync(tmp, file);
  } catch (e) {
    console.warn(`could not record figures for ${suite}: ${(e as Error).message}`);
  }
}
