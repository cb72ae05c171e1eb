// What `npm test` (scripts/test.ts) installs before the tests, decided from its arguments. Pure.

import { homedir } from 'node:os';
import { join } from 'node:path';

/** The only test that needs moto (scripts/moto-venv.sh). */
export const motoTestFile = 'test/emulator/moto-conformance.test.ts';

/**
 * Whether the vitest arguments may select the moto test. Not when every `--project` given names
 * another project, or when every other word is a test path (has a `/` or `.test`) that the moto test's
 * path does not contain (vitest's file filters are substrings). Any other word may be a flag's value
 * (`--reporter verbose`), so it counts as "may": installing moto needlessly costs a minute once, a
 * missing moto fails the test.
 */
export function motoNeeded(args: readonly string[]): boolean {
  const projects: string[] = [];
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--project') projects.push(args[++i] ?? '');
    else if (a.startsWith('--project=')) projects.push(a.slice('--project='.length));
    else if (!a.startsWith('-')) words.push(a);
  }
  if (projects.length > 0 && !projects.includes('emulator')) return false;
  const isPath = (w: string) => w.includes('/') || w.includes('.test');
  if (words.length === 0 || !words.every(isPath)) return true;
  return words.some((w) => motoTestFile.includes(w));
}

/** The venv python scripts/moto-venv.sh installs into, which the moto test is pointed at. */
export function motoPython(env: Record<string, string | undefined>): string {
  return join(env['CMK_MOTO_VENV'] || join(homedir(), '.cache', 'cmk-operator', 'venv'), 'bin', 'python');
}
