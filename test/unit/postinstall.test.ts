// The postinstall check (scripts/postinstall.ts) that replaces npm's EBADENGINE warnings, which .npmrc
// silences because npm compares against the system Node: engine ranges against the project's Node,
// install scripts against allowScripts, and the project's own lockfile against its pinned Node.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { installReport, nodeRangeAccepts, npmNodeOf } from '../../scripts/postinstall.ts';

describe('nodeRangeAccepts', () => {
  // Every form found in package-lock.json's engines.node, and the edges of each operator.
  it.each([
    ['>=24', 'v24.21.0', true],
    ['>=24', 'v20.20.2', false],
    ['>= 20.16.0', 'v20.16.0', true],
    ['>= 20.16.0', 'v20.15.9', false],
    ['>=22.19.0', 'v22.18.0', false],
    ['>=14.14', 'v14.14.0', true],
    ['>=14.14', 'v14.13.9', false],
    ['>= 10.x', 'v10.0.0', true],
    ['>=20.11', 'v24.0.0', true],
    ['^22.12.0 || ^24.0.0 || >=26.0.0', 'v24.21.0', true],
    ['^22.12.0 || ^24.0.0 || >=26.0.0', 'v25.0.0', false],
    ['^22.12.0 || ^24.0.0 || >=26.0.0', 'v22.11.0', false],
    ['^22.12.0 || ^24.0.0 || >=26.0.0', 'v27.1.0', true],
    ['^20.19.0 || ^22.13.0 || >=23.5.0', 'v23.4.0', false],
    ['^10 || ^12 || ^13.7 || ^14 || >=15.0.1', 'v13.6.0', false],
    ['^10 || ^12 || ^13.7 || ^14 || >=15.0.1', 'v13.8.0', true],
    ['^10 || ^12 || ^13.7 || ^14 || >=15.0.1', 'v15.0.0', false],
    ['^8.16.0 || ^10.6.0 || >=11.0.0', 'v24.21.0', true],
    ['^0.3', 'v0.3.9', true],
    ['^0.3', 'v0.4.0', false],
    ['^0.0.3', 'v0.0.4', false],
    ['~1.2', 'v1.2.9', true],
    ['~1.2', 'v1.3.0', false],
    ['~1', 'v1.9.0', true],
    ['>1.2', 'v1.2.9', false],
    ['>1.2', 'v1.3.0', true],
    ['<=1.2', 'v1.2.9', true],
    ['<24', 'v24.0.0', false],
    ['>=18 <23', 'v22.1.0', true],
    ['>=18 <23', 'v24.0.0', false],
    ['14.x', 'v14.2.0', true],
    ['=24.21.0', 'v24.21.0', true],
    ['24', 'v25.0.0', false],
    ['*', 'v24.0.0', true],
    ['', 'v24.0.0', true],
    ['>=24.0.0-rc.1', 'v24.0.0', true],
    ['not a range', 'v24.0.0', false],
  ])('%j accepts %s: %s', (range, version, expected) => {
    expect(nodeRangeAccepts(range, version)).toBe(expected);
  });

  it('refuses a version that is not one', () => {
    expect(() => nodeRangeAccepts('>=1', 'twenty')).toThrow('"twenty" is not a Node version');
  });
});

describe('installReport', () => {
  const lock = {
    packages: {
      '': { version: '0.1.0', engines: { node: '>=24' } },
      'node_modules/vitest': { version: '5.1.1', engines: { node: '^22.12.0 || ^24.0.0 || >=26.0.0' } },
      'node_modules/future': { version: '1.0.0', engines: { node: '>=30' } },
      'node_modules/a/node_modules/@scope/nested': { version: '2.0.0', engines: { node: '>=99' } },
      'node_modules/@esbuild/darwin-arm64': { version: '0.28.2', engines: { node: '>=99' } },
      'node_modules/node': { version: '24.21.0', hasInstallScript: true },
      'node_modules/esbuild': { version: '0.28.2', hasInstallScript: true },
      'node_modules/pinned': { version: '3.0.0', hasInstallScript: true },
      'node_modules/sneaky': { version: '1.0.0', hasInstallScript: true },
      'node_modules/old-engines': { version: '1.0.0', engines: ['node >=0.4'] },
    },
  };
  const installed = (p: string) => !p.includes('darwin');
  const report = installReport(
    lock,
    { node: true, esbuild: false, 'pinned@3.0.0': true },
    'v24.21.0',
    installed,
  );

  it('counts the installed packages, not the root or other platforms', () => {
    expect(report.packages).toBe(8);
  });
  it('names the packages whose engines reject the Node, nested ones by their own name', () => {
    expect(report.engineMismatches).toEqual([
      'future@1.0.0 needs node >=30',
      '@scope/nested@2.0.0 needs node >=99',
    ]);
  });
  it('names install scripts that allowScripts does not cover (allowed, denied and pinned ones are covered)', () => {
    expect(report.uncoveredScripts).toEqual(['sneaky@1.0.0']);
  });
});

describe("the project's own install", () => {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const pinnedNode = `v${lock.packages['node_modules/node'].version}`;

  it('every locked package accepts the pinned Node (a dependency needing a newer one fails here)', () => {
    const report = installReport(lock, pkg.allowScripts, pinnedNode, () => true);
    expect(report.engineMismatches).toEqual([]);
  });
  it('every locked package with an install script is allowed or denied in package.json', () => {
    expect(installReport(lock, pkg.allowScripts, pinnedNode, () => true).uncoveredScripts).toEqual([]);
  });
  it('npm prints errors only (.npmrc), so npm ci is quiet; the postinstall runs the checks', () => {
    expect(readFileSync('.npmrc', 'utf8')).toMatch(/^loglevel=error$/m);
    expect(pkg.scripts.postinstall).toBe('node scripts/postinstall.ts');
  });
});

describe('npmNodeOf', () => {
  it.each([
    ['npm/11.19.1 node/v20.20.2 linux x64 workspaces/false', 'v20.20.2'],
    ['npm/11.19.1 node/v24.21.0 darwin arm64 workspaces/false ci/github-actions', 'v24.21.0'],
    ['', undefined],
    [undefined, undefined],
  ])('%j -> %s', (ua, node) => {
    expect(npmNodeOf(ua)).toBe(node);
  });
});
