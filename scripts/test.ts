// `npm test`: everything CI checks, in the order that fails fastest. Static checks first (generated
// files, types, lint), then what the tests need that npm does not install, each into a cache once and
// loudly failing when it cannot be: the test binaries (scripts/test-binaries.sh) and moto, the
// reference emulator of the conformance test (scripts/moto-venv.sh; skipped when the arguments cannot
// select that test, or when CMK_MOTO_PYTHON names a python that has it). Then every vitest project.
// Ends with one summary line, `N passed, N failed, N skipped`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { motoNeeded, motoPython } from './test-setup.ts';

const started = Date.now();
const steps: Array<{ name: string; seconds: number; ok: boolean }> = [];

function run(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  process.stdout.write(`\n== ${name}: ${command} ${args.join(' ')}\n`);
  const t = Date.now();
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  const ok = result.status === 0;
  steps.push({ name, seconds: (Date.now() - t) / 1000, ok });
  return ok;
}

const extra = process.argv.slice(2);
let ok = run('generated files', 'node', ['src/dev/main.ts', 'crds', '--check']);
ok = run('typecheck', 'tsc', ['-p', 'tsconfig.json']) && ok;
ok = run('lint', 'biome', ['check', '.']) && ok;
ok = run('test binaries', 'bash', ['scripts/test-binaries.sh']) && ok;
let testEnv = process.env;
if (process.env['CMK_MOTO_PYTHON']) {
  process.stdout.write(`\n== moto: CMK_MOTO_PYTHON=${process.env['CMK_MOTO_PYTHON']} (not installing)\n`);
} else if (motoNeeded(extra)) {
  ok = run('moto', 'bash', ['scripts/moto-venv.sh']) && ok;
  // The conformance test looks where the script installed, also under a CMK_MOTO_VENV of your choice.
  testEnv = { ...process.env, CMK_MOTO_PYTHON: motoPython(process.env) };
}

const reportDir = mkdtempSync(join(tmpdir(), 'cmk-test-'));
const reportFile = join(reportDir, 'vitest.json');
const testsOk = run(
  'tests',
  'vitest',
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...extra],
  testEnv,
);
ok = testsOk && ok;

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
  };
  passed = report.numPassedTests;
  failed = report.numFailedTests;
  skipped = report.numPendingTests + report.numTodoTests;
} catch {
  failed = Math.max(failed, 1);
  process.stdout.write('no vitest report was written: the test run did not complete\n');
}
rmSync(reportDir, { recursive: true, force: true });

process.stdout.write('\n== summary\n');
for (const s of steps)
  process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(16)} ${s.seconds.toFixed(1)}s\n`);
process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
if (!ok && failed === 0) failed = 1; // a failed static check counts as a failure
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = ok ? 0 : 1;
