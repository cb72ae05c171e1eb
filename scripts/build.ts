// Builds what the container image runs: the operator's TypeScript (bin/cmk-operator.ts and src/,
// without src/dev/) compiled to JavaScript by tsc, laid out like the image's /app (package.json,
// bin/, src/), so the same relative paths hold (src/cli/version.ts reads ../../package.json).
//
//   node scripts/build.ts [--out dist/operator]    (npm run build)
//
// Why compiled rather than run through Node's type stripping, as everything else in this repository
// is: type stripping loads a WebAssembly TypeScript parser into the process and keeps it, ~22 MiB of
// resident memory the operator never needs again after start-up (bench/results/memory-analysis.md).
// Run from the output directory's parent chain, packages resolve from the nearest node_modules.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineCommand } from '../src/cli/command.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const defaultBuildDir = join(repoRoot, 'dist', 'operator');

/** Compiles the operator into `outDir` (emptied first); returns the entry point's path. */
export function buildOperator(outDir = defaultBuildDir, root = repoRoot): string {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  if (!existsSync(tsc)) throw new Error(`build: ${tsc} not found: run npm ci first`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const run = spawnSync(tsc, ['-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], {
    cwd: root,
    encoding: 'utf8',
  });
  if (run.status !== 0)
    throw new Error(`build: tsc failed (exit ${run.status}):\n${run.stdout}${run.stderr}`.trimEnd());
  copyFileSync(join(root, 'package.json'), join(outDir, 'package.json'));
  const entry = join(outDir, 'bin', 'cmk-operator.js');
  if (!existsSync(entry)) throw new Error(`build: tsc wrote no ${entry}`);
  return entry;
}

const cli = defineCommand({
  name: 'node scripts/build.ts',
  description: "Compiles the operator to JavaScript, laid out like the image's /app.",
  flags: {
    out: { type: 'string', metavar: 'DIR', default: 'dist/operator', description: 'the output directory' },
  },
});

if (import.meta.main) {
  const parsed = cli.parse(process.argv.slice(2));
  if (!parsed.ok) process.exit(parsed.exitCode);
  process.stdout.write(`built ${buildOperator(resolve(parsed.values.out))}\n`);
}
