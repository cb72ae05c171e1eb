// `kubectl cmk version`: which build of the plugin this is. The release bundle
// (scripts/build-plugin.ts) embeds the version and the git commit it was built from by replacing the
// `CMK_BUILD` constant below at build time; a run from a source checkout has no such constant and reads
// package.json instead, saying that it runs from source.

import { readFileSync } from 'node:fs';

/** What a build knows about itself. */
export interface BuildInfo {
  /** package.json `version`. */
  version: string;
  /** The git commit the bundle was built from; absent when it was built outside a git checkout. */
  commit?: string;
  /** The checkout had uncommitted changes when the bundle was built. */
  dirty?: boolean;
  /** `bundle`: the self-contained kubectl-cmk file; `source`: the TypeScript sources in a checkout. */
  from: 'bundle' | 'source';
}

// Replaced by the bundler with an object literal; undeclared (typeof: 'undefined') in a source run.
declare const CMK_BUILD: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (typeof CMK_BUILD !== 'undefined') return CMK_BUILD;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return { version: pkg.version, from: 'source' };
}

/** The line `version` prints, e.g. `kubectl-cmk 0.1.0 (commit 0123abcd4567, node v24.21.0)`. Pure. */
export function versionText(info: BuildInfo, nodeVersion: string): string {
  const build =
    info.from === 'source'
      ? 'from source'
      : info.commit
        ? `commit ${info.commit}${info.dirty ? ' with uncommitted changes' : ''}`
        : 'commit unknown';
  return `kubectl-cmk ${info.version} (${build}, node ${nodeVersion})\n`;
}
