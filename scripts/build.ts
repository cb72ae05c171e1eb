// Builds what the container image runs: the operator (bin/cmk-operator.ts and what it imports,
// npm dependencies included, never src/dev/) bundled by esbuild into ES modules, laid out like the
// image's /app: package.json (for `"type": "module"`), bin/cmk-operator.js, and bin/chunks/ for
// what is imported on demand (the `run` command, and @kubernetes/client-node, which only an unusual
// kubeconfig loads: src/runtime/kubeconfig.ts). The output needs no node_modules beside it.
//
//   node scripts/build.ts [--out dist/operator]    (npm run build)
//
// Why bundled rather than compiled file by file, measured (bench/results/memory-analysis.md, session
// 16): one module instead of ~600 leaves out the ES module loader's record of each file, the unused
// exports of the dependencies (tree-shaken) and their sources; the loaded operator holds 20 MiB less
// resident memory (79 against 99 MiB) and a 7 MiB smaller heap. Why not run through Node's type
// stripping, as everything else in this repository is: that loads a WebAssembly TypeScript parser
// into the process and keeps it, ~22 MiB of resident memory the operator never needs again.
// Identifiers and whitespace are kept, so a stack trace still reads.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync, stop } from 'esbuild';
import { defineCommand } from '../src/cli/command.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const defaultBuildDir = join(repoRoot, 'dist', 'operator');

/** `require` for the CommonJS dependencies bundled into an ES module (one per output file). */
const requireShim = [
  "import { createRequire as __cmkCreateRequire } from 'node:module';",
  'const require = __cmkCreateRequire(import.meta.url);',
].join('\n');

/** Bundles the operator into `outDir` (emptied first); returns the entry point's path. */
export function buildOperator(outDir = defaultBuildDir, root = repoRoot): string {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  try {
    buildSync({
      entryPoints: [join(root, 'bin', 'cmk-operator.ts')],
      outdir: join(outDir, 'bin'),
      chunkNames: 'chunks/[name]-[hash]',
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      banner: { js: requireShim },
      // Inlined into the entry point's file, a module's `if (import.meta.main)` (src/cli/main.ts runs
      // itself so) would be true there too: the entry point is the only one that runs anything.
      define: { 'import.meta.main': 'false' },
      legalComments: 'eof',
      logLevel: 'silent',
      absWorkingDir: root,
    });
  } catch (e) {
    // esbuild's message lists each error with its file and line.
    throw new Error(`build: esbuild failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    // esbuild keeps a service process (hundreds of MiB) for further builds; the bench lives on.
    stop();
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  // What the running operator reads of package.json: only that its .js files are ES modules.
  const kept = { name: pkg['name'], version: pkg['version'], type: pkg['type'], license: pkg['license'] };
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(kept, null, 2)}\n`);
  const entry = join(outDir, 'bin', 'cmk-operator.js');
  if (!existsSync(entry)) throw new Error(`build: esbuild wrote no ${entry}`);
  return entry;
}

const cli = defineCommand({
  name: 'node scripts/build.ts',
  description: "Bundles the operator into JavaScript, laid out like the image's /app.",
  flags: {
    out: { type: 'string', metavar: 'DIR', default: 'dist/operator', description: 'the output directory' },
  },
});

if (import.meta.main) {
  const parsed = cli.parse(process.argv.slice(2));
  if (!parsed.ok) process.exit(parsed.exitCode);
  process.stdout.write(`built ${buildOperator(resolve(parsed.values.out))}\n`);
}
