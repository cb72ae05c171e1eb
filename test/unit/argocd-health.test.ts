// The Argo CD health checks (argocd/health/cmk.io/<Kind>/health.lua), run in a Lua VM against their
// own tests in Argo CD's resource_customizations layout (health_test.yaml + testdata/), and the
// GitOps examples that rely on them.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { kinds } from '../../src/api/kinds.ts';
import { healthDir, healthScript, luaSubsetViolations, runHealth } from './support/argocd-lua.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface HealthTests {
  tests: Array<{ healthStatus: { status: string; message: string }; inputPath: string }>;
}

describe('Argo CD health checks', () => {
  it('exist for every cmk.io kind, each with tests, and nothing else', () => {
    expect(readdirSync(healthDir).sort()).toEqual(kinds.map((k) => k.kind).sort());
    for (const { kind } of kinds) {
      const tests = parse(readFileSync(join(healthDir, kind, 'health_test.yaml'), 'utf8')) as HealthTests;
      expect(tests.tests.length, kind).toBeGreaterThan(0);
      const inputs = tests.tests.map((t) => t.inputPath).sort();
      expect(inputs, `${kind}: every testdata file is used`).toEqual(
        readdirSync(join(healthDir, kind, 'testdata'))
          .map((f) => `testdata/${f}`)
          .sort(),
      );
    }
  });

  const cases = kinds.flatMap(({ kind }) =>
    (parse(readFileSync(join(healthDir, kind, 'health_test.yaml'), 'utf8')) as HealthTests).tests.map(
      (t) => [kind, t.inputPath, t.healthStatus] as const,
    ),
  );

  it.each(cases)('%s %s', (kind, inputPath, expected) => {
    const obj = parse(readFileSync(join(healthDir, kind, inputPath), 'utf8'));
    const script = healthScript(kind);
    // Argo CD's gopher-lua has only float64 numbers; Lua 5.3 would pass integers: same answer.
    expect(runHealth(script, obj, 'float')).toEqual(expected);
    expect(runHealth(script, obj, 'integer')).toEqual(expected);
  });

  it('cover Healthy, Progressing and Degraded for every kind that has a status', () => {
    for (const { kind, status } of kinds) {
      if (!status) continue;
      const statuses = new Set(
        (parse(readFileSync(join(healthDir, kind, 'health_test.yaml'), 'utf8')) as HealthTests).tests.map(
          (t) => t.healthStatus.status,
        ),
      );
      expect([...statuses].sort(), kind).toEqual(['Degraded', 'Healthy', 'Progressing']);
    }
  });

  it.each(kinds.map((k) => k.kind))('%s stays within Lua 5.1 ∩ 5.3', (kind) => {
    expect(luaSubsetViolations(healthScript(kind))).toEqual([]);
  });

  it('the subset check catches what Lua 5.1 lacks', () => {
    expect(luaSubsetViolations('local a = 7 // 2')).toHaveLength(1);
    expect(luaSubsetViolations('local a = 1 & 3')).toHaveLength(1);
    expect(luaSubsetViolations('goto done')).toHaveLength(1);
    expect(luaSubsetViolations('local a = table.unpack(t)')).toHaveLength(1);
    expect(luaSubsetViolations('-- 7 // 2 in a comment\nlocal s = "a // b" if a ~= b then end')).toEqual([]);
  });

  it('the scripts for kinds with a status share one body; only KmsKey adds KeyUsable=False', () => {
    const body = (kind: string) => {
      const script = healthScript(kind);
      return script
        .slice(script.indexOf('local degradedWhenFalse'))
        .replace(/^local degradedWhenFalse = .*$/m, '');
    };
    const withStatus = kinds.filter((k) => k.status).map((k) => k.kind);
    for (const kind of withStatus) expect(body(kind), kind).toBe(body('KmsKey'));
    expect(healthScript('KmsKey')).toMatch(/^local degradedWhenFalse = \{ "KeyUsable" \}$/m);
    for (const kind of withStatus.filter((k) => k !== 'KmsKey'))
      expect(healthScript(kind)).toMatch(/^local degradedWhenFalse = \{\}$/m);
  });
});

describe('GitOps examples', () => {
  const docs = (file: string) =>
    parseAllDocuments(readFileSync(join(root, 'examples', file), 'utf8')).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> },
    );

  it('examples/kustomization.yaml deploys the example objects, all cmk.io kinds', () => {
    const k = parse(readFileSync(join(root, 'examples/kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const deployed = k.resources.flatMap((file) => {
      expect(existsSync(join(root, 'examples', file)), file).toBe(true);
      return docs(file);
    });
    expect(new Set(deployed.map((d) => d.kind))).toEqual(new Set(kinds.map((x) => x.kind)));
    expect(
      deployed.every((d) => (d as unknown as { apiVersion: string }).apiVersion === 'cmk.io/v1alpha1'),
    ).toBe(true);
  });

  it('the Argo CD Applications point at this repository: the chart and examples/', () => {
    const apps = docs('argocd-application.yaml');
    expect(apps.map((a) => a.kind)).toEqual(['Application', 'Application']);
    const paths = apps.map((a) => (a.spec['source'] as { path: string }).path);
    expect(paths).toEqual(['charts/cmk-operator', 'examples']);
    for (const p of paths) expect(existsSync(join(root, p)), p).toBe(true);
  });

  it('the Flux objects point at this repository: the chart and examples/', () => {
    const objects = docs('flux-kustomization.yaml');
    expect(objects.map((o) => o.kind)).toEqual(['GitRepository', 'HelmRelease', 'Kustomization']);
    const [repo, release, kustomization] = objects;
    const chart = (release!.spec['chart'] as { spec: { chart: string; sourceRef: { name: string } } }).spec;
    expect(existsSync(join(root, chart.chart))).toBe(true);
    expect(chart.sourceRef.name).toBe(repo!.metadata.name);
    expect(existsSync(join(root, kustomization!.spec['path'] as string, 'kustomization.yaml'))).toBe(true);
    expect((kustomization!.spec['sourceRef'] as { name: string }).name).toBe(repo!.metadata.name);
    expect(kustomization!.spec['wait']).toBe(true);
  });
});
