// Runs after `npm ci` / `npm install` (package.json postinstall) and says, in one line, what was
// installed and which Node the project runs on. It also makes the two checks that .npmrc's
// `loglevel=error` keeps npm from printing, against the right Node:
// - engines: npm compares every package's `engines.node` with the Node that npm itself runs on (the
//   system one, often older), so every package needing a newer Node warned EBADENGINE although none of
//   them ever runs there: every npm script, npx tool and bin of this project runs on the Node 24 that the
//   `node` package installs (node_modules/.bin/node, first on PATH in npm scripts). Here the check is
//   made against that Node, the one this script runs on; a real mismatch is printed.
// - install scripts: packages whose install script npm skipped because package.json `allowScripts`
//   says nothing about them are named, as npm's own warning would.
// Exit code 1 only when the project's Node is not the one npm installed (nothing else would work).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A version's parts; a part not given (`14`, `13.7`) or given as `x`/`*` is NaN. */
type Version = [number, number, number];

function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text.trim().replace(/[-+].*$/, ''));
  if (!m) return undefined;
  const n = (s: string | undefined) => (s === undefined || s === 'x' || s === '*' ? Number.NaN : Number(s));
  return [Number(m[1]), n(m[2]), n(m[3])];
}

/** Compares `v` with `want` on the parts `want` gives only: `1.2.9` equals `1.2`, exceeds `1.1`. */
function comparePrefix(v: Version, want: Version): number {
  for (let i = 0; i < 3; i++) {
    if (Number.isNaN(want[i])) return 0;
    const d = v[i]! - want[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function comparatorAccepts(comparator: string, v: Version): boolean {
  const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(comparator);
  const want = m && parseVersion(m[2]!);
  if (!m || !want) return false;
  const c = comparePrefix(v, want);
  switch (m[1]) {
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '^': {
      // At least `want`, not past its first non-zero part: ^10 <11, ^0.3 <0.4, ^0.0.3 <0.0.4.
      if (c < 0 || v[0] !== want[0]) return false;
      if (want[0] !== 0 || Number.isNaN(want[1])) return true;
      return v[1] === want[1] && (want[1] !== 0 || Number.isNaN(want[2]) || v[2] === want[2]);
    }
    case '~':
      // At least `want`, same minor when one is given: ~1.2 <1.3, ~1 <2.
      return c >= 0 && v[0] === want[0] && (Number.isNaN(want[1]) || v[1] === want[1]);
    default:
      // `14`, `14.x`, `=14.17.0`: the parts given match.
      return c === 0;
  }
}

/**
 * Whether a Node version satisfies an `engines.node` range, for the forms npm packages use: `||`
 * alternatives of space-separated comparators (`>=`, `>`, `<`, `<=`, `=`, `^`, `~`, bare and x-ranges,
 * partial versions), `*` and the empty range. Pure.
 */
export function nodeRangeAccepts(range: string, version: string): boolean {
  const v = parseVersion(version);
  if (!v || v.some(Number.isNaN)) throw new Error(`"${version}" is not a Node version`);
  return range.split('||').some((alternative) => {
    const text = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1');
    if (text === '' || text === '*' || text === 'x') return true;
    return text.split(/\s+/).every((c) => comparatorAccepts(c, v));
  });
}

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
  hasInstallScript?: boolean;
}

export interface InstallReport {
  packages: number;
  /** `name@version needs node RANGE`, for installed packages whose range rejects the project's Node. */
  engineMismatches: string[];
  /** `name@version`, installed packages with an install script that allowScripts does not mention. */
  uncoveredScripts: string[];
}

/** Checks the lockfile's installed packages (`installed(path)`) against `nodeVersion`. Pure. */
export function installReport(
  lock: { packages?: Record<string, LockPackage> },
  allowScripts: Record<string, unknown>,
  nodeVersion: string,
  installed: (path: string) => boolean,
): InstallReport {
  const report: InstallReport = { packages: 0, engineMismatches: [], uncoveredScripts: [] };
  for (const [path, pkg] of Object.entries(lock.packages ?? {})) {
    if (path === '' || !installed(path)) continue;
    report.packages++;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const id = `${name}@${pkg.version ?? '?'}`;
    const range = Array.isArray(pkg.engines) ? undefined : pkg.engines?.node;
    if (range && !nodeRangeAccepts(range, nodeVersion))
      report.engineMismatches.push(`${id} needs node ${range}`);
    // allowScripts keys are a name, or a name pinned to versions (`esbuild@0.28.2`).
    const covered = Object.keys(allowScripts).some((k) => k === name || k.startsWith(`${name}@`));
    if (pkg.hasInstallScript && !covered) report.uncoveredScripts.push(id);
  }
  return report;
}

/** The system Node that npm ran on, from npm's user agent (`npm/11.1.0 node/v20.20.2 linux x64 ...`). */
export function npmNodeOf(userAgent: string | undefined): string | undefined {
  return /\bnode\/(v[\d.]+)/.exec(userAgent ?? '')?.[1];
}

function main(): number {
  const pinned = join(root, 'node_modules', '.bin', 'node');
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    process.stderr.write(
      `cmk-operator: the project runs on Node 24 from ${pinned}, but this ran on ${process.version} (${process.execPath}): ` +
        'the `node` package did not install its binary; run `npm ci` again and read its errors\n',
    );
    return 1;
  }
  const lockFile = join(root, 'package-lock.json');
  if (!existsSync(lockFile)) return 0;
  const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: object };
  const report = installReport(lock, { ...pkg.allowScripts }, process.version, (p) =>
    existsSync(join(root, p)),
  );
  const npmNode = npmNodeOf(process.env['npm_config_user_agent']);
  process.stdout.write(
    `cmk-operator: ${report.packages} packages installed; every npm script and tool here runs on Node ${process.version} ` +
      `(node_modules/.bin/node)${npmNode && npmNode !== process.version ? `, npm itself on the system Node ${npmNode}` : ''}. ` +
      `Engines checked against ${process.version}: ${report.engineMismatches.length === 0 ? 'all fit' : `${report.engineMismatches.length} do not`}.\n`,
  );
  for (const m of report.engineMismatches) process.stdout.write(`cmk-operator: warning: ${m}\n`);
  for (const s of report.uncoveredScripts)
    process.stdout.write(
      `cmk-operator: warning: ${s} has an install script that npm skipped: allow or deny it in package.json allowScripts (npm install-scripts ls)\n`,
    );
  return 0;
}

if (import.meta.main) process.exitCode = main();
