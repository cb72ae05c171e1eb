// Builds the self-contained kubectl plugin: bin/kubectl-cmk.ts and everything it imports, npm
// dependencies included, bundled by esbuild into one ES module file that starts with a node shebang.
// It runs without the repository and without a node_modules beside it, on Node.js 24 or newer (the
// first lines of the file check, and say so on an older Node). The package.json version and the git
// commit are embedded for `kubectl cmk version` (src/cli/version.ts, CMK_BUILD).
//
//   node scripts/build-plugin.ts [--out dist/kubectl-cmk.mjs]    (npm run build:plugin)
//
// Identifiers are kept (whitespace and syntax are minified), so a stack trace still reads; the
// dependencies' licence comments are collected at the end of the file.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { defineCommand } from '../src/cli/command.ts';
import type { BuildInfo } from '../src/cli/version.ts';
import { repoRoot } from './build.ts';

export { repoRoot };
export const defaultPluginFile = join(repoRoot, 'dist', 'kubectl-cmk.mjs');
export const minimumNodeMajor = 24;

/**
 * The first statements of the bundle. The Node check comes before any dependency code runs, and the
 * bundle's syntax targets an older Node, so an old Node reaches the check and prints it instead of a
 * syntax error. `require` is for the CommonJS dependencies bundled into an ES module.
 */
export const pluginBanner = [
  `if (Number(process.versions.node.split('.')[0]) < ${minimumNodeMajor}) {`,
  `  process.stderr.write('kubectl-cmk needs Node.js ${minimumNodeMajor} or newer; ' + process.execPath + ' is ' + process.version + '. Install Node.js ${minimumNodeMajor} and put it first on PATH.\\n');`,
  '  process.exit(1);',
  '}',
  "import { createRequire as __cmkCreateRequire } from 'node:module';",
  'const require = __cmkCreateRequire(import.meta.url);',
].join('\n');

function git(args: string[], cwd: string): string | undefined {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Version from package.json, commit and dirtiness from git (absent outside a git checkout). */
export function buildInfoOf(root: string, version: string): BuildInfo {
  const commit = git(['rev-parse', '--short=12', 'HEAD'], root);
  if (!commit) return { version, from: 'bundle' };
  const dirty = (git(['status', '--porcelain', '--untracked-files=no'], root) ?? '') !== '';
  return { version, commit, ...(dirty ? { dirty } : {}), from: 'bundle' };
}

export interface BuiltPlugin {
  file: string;
  bytes: number;
  info: BuildInfo;
}

/** Bundles the plugin into `outFile` (executable). */
export async function buildPlugin(outFile = defaultPluginFile, root = repoRoot): Promise<BuiltPlugin> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const info = buildInfoOf(root, pkg.version);
  mkdirSync(dirname(outFile), { recursive: true });
  await build({
    entryPoints: [join(root, 'bin', 'kubectl-cmk.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Syntax an older Node parses, so that it reaches the version check in the banner.
    target: 'node20',
    banner: { js: pluginBanner },
    define: { CMK_BUILD: JSON.stringify(info) },
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    logLevel: 'warning',
    absWorkingDir: root,
  });
  chmodSync(outFile, 0o755);
  return { file: outFile, bytes: statSync(outFile).size, info };
}

const cli = defineCommand({
  name: 'node scripts/build-plugin.ts',
  description: 'Bundles kubectl-cmk into one file that runs without the repository (Node.js 24 or newer).',
  flags: {
    out: { type: 'string', metavar: 'FILE', default: 'dist/kubectl-cmk.mjs', description: 'the bundle' },
  },
});

if (import.meta.main) {
  const parsed = cli.parse(process.argv.slice(2));
  if (!parsed.ok) process.exit(parsed.exitCode);
  const built = await buildPlugin(resolve(parsed.values.out));
  const where = built.info.commit
    ? `commit ${built.info.commit}${built.info.dirty ? ' (dirty)' : ''}`
    : 'no git';
  process.stdout.write(
    `${built.file}: kubectl-cmk ${built.info.version}, ${where}, ${(built.bytes / 1e6).toFixed(1)} MB\n`,
  );
}
