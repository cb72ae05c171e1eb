// The chart's monitoring pieces (docs/metrics.md): the PrometheusRule passes `promtool check rules`
// and the rule tests in test/promtool/ (one file per alert, firing and not), the ServiceMonitor
// scrapes the metrics Service's port and keeps the objects' namespace label, and the dashboard
// ConfigMap carries dashboards/cmk-operator.json; all three only when asked for, and strictly valid
// (kubeconform with local schemas; the ServiceMonitor's from support/helm.ts). Runs helm and promtool from the test-binary cache.

import {
  accessSync,
  constants,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildBinaries } from '../../src/dev/devenv/binaries.ts';
import { adminIdentity } from './support/cluster.ts';
import {
  kubeconform,
  type Manifest,
  renderChart,
  repoRoot,
  run,
  writeKubeconformSchemas,
} from './support/helm.ts';
import { prometheusRuleSchema } from './support/monitoring-schemas.ts';

const testsDir = join(repoRoot, 'test/promtool');
const testFiles = readdirSync(testsDir).filter((f) => f.endsWith('.yaml'));
/** The values test/promtool/README.md says the rule tests are written for. */
const ruleValues = {
  fullnameOverride: 'cmk-operator',
  prometheusRule: { enabled: true, alertLabels: { team: 'platform' } },
};

let promtool: string;
let work: string;
let schemaDir: string;

beforeAll(async () => {
  // scripts/test-binaries.sh builds promtool with the others (once per version).
  promtool = join(await buildBinaries(), 'promtool');
  try {
    accessSync(promtool, constants.X_OK);
  } catch {
    throw new Error(`${promtool} is missing: run \`npm run binaries\` (scripts/test-binaries.sh)`);
  }
  work = mkdtempSync(join(tmpdir(), 'cmk-promtool-'));
  schemaDir = mkdtempSync(join(tmpdir(), 'cmk-schemas-'));
  const fetchJson = async (path: string) => {
    const res = await adminIdentity().request('GET', path);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
    return res.body;
  };
  await writeKubeconformSchemas(schemaDir, ['v1/ConfigMap'], fetchJson);
  const ruleSchema = join(schemaDir, 'monitoring.coreos.com', 'prometheusrule_v1.json');
  await mkdir(dirname(ruleSchema), { recursive: true });
  await writeFile(ruleSchema, JSON.stringify(prometheusRuleSchema));
});
afterAll(() => {
  for (const dir of [work, schemaDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const only = (objects: Manifest[], kind: string) => objects.filter((o) => o.kind === kind);

interface RuleSpec {
  groups: Array<{
    name: string;
    rules: Array<{ alert: string; expr: string; for?: string; annotations: Record<string, string> }>;
  }>;
}

/** The rendered rules as a Prometheus rule file in the work dir, beside copies of the rule tests. */
async function renderedRuleFile(): Promise<{ spec: RuleSpec; alerts: string[] }> {
  const { objects } = await renderChart(ruleValues);
  const [rule] = only(objects, 'PrometheusRule');
  const spec = rule!['spec'] as RuleSpec;
  writeFileSync(join(work, 'rules.yaml'), stringify(spec));
  for (const f of testFiles) copyFileSync(join(testsDir, f), join(work, f));
  return { spec, alerts: spec.groups.flatMap((g) => g.rules.map((r) => r.alert)) };
}

describe('the PrometheusRule', () => {
  let alerts: string[];
  beforeAll(async () => {
    ({ alerts } = await renderedRuleFile());
  });

  it('is rendered only with prometheusRule.enabled', async () => {
    expect(only((await renderChart({})).objects, 'PrometheusRule')).toEqual([]);
    const { objects } = await renderChart({ prometheusRule: { enabled: true, labels: { release: 'kps' } } });
    const [rule] = only(objects, 'PrometheusRule');
    expect(rule?.metadata).toMatchObject({ name: 'cmk-cmk-operator', namespace: 'cmk-system' });
    expect(rule?.metadata.labels?.['release']).toBe('kps');
  });

  it('passes promtool check rules', async () => {
    const result = await run(promtool, ['check', 'rules', join(work, 'rules.yaml')]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it.each(testFiles)('promtool test rules %s', async (file) => {
    const result = await run(promtool, ['test', 'rules', join(work, file)]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('every alert has a rule test that fires and one that does not', () => {
    const cases = testFiles.flatMap((f) => {
      const doc = parse(readFileSync(join(testsDir, f), 'utf8')) as {
        tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
      };
      return doc.tests.flatMap((t) => t.alert_rule_test);
    });
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} stays quiet in a test`,
      ).toBe(true);
    }
  });

  it('a rule test expecting the wrong thing fails (promtool really checks)', async () => {
    const wrong = readFileSync(join(testsDir, 'key-disabled-in-use.yaml'), 'utf8').replace(
      'severity: critical, team: platform, namespace: keys, name: orders',
      'severity: warning, team: platform, namespace: keys, name: orders',
    );
    writeFileSync(join(work, 'wrong.yaml'), wrong);
    const result = await run(promtool, ['test', 'rules', join(work, 'wrong.yaml')]);
    expect(result.code).not.toBe(0);
  });

  it('takes its thresholds, selector and runbook base from values', async () => {
    const { objects } = await renderChart({
      prometheusRule: {
        enabled: true,
        stalledFor: '45m',
        rotationSlackDays: 30,
        grantsRatio: 0.9,
        metricsSelector: 'job="cmk", cluster="prod"',
        runbookBaseUrl: 'https://wiki.internal/cmk/runbooks',
      },
    });
    const rules = (only(objects, 'PrometheusRule')[0]!['spec'] as RuleSpec).groups.flatMap((g) => g.rules);
    const rule = (name: string) =>
      rules.find((r) => r.alert === name) as Record<string, unknown> & { expr: string };
    expect(rule('CmkObjectStalled').for).toBe('45m');
    expect(rule('CmkKeyRotationOverdue').expr).toContain(`+ ${30 * 86_400}`);
    expect(rule('CmkKeyGrantsNearLimit').expr).toContain('> 0.9');
    for (const r of rules) {
      expect(r.expr, r.alert).toContain('{job="cmk", cluster="prod"');
      expect(r.expr, r.alert).not.toContain('-metrics');
      expect(r.annotations['runbook_url'], r.alert).toMatch(
        /^https:\/\/wiki\.internal\/cmk\/runbooks#[a-z0-9-]+$/,
      );
    }
  });
});

describe('the ServiceMonitor', () => {
  it('scrapes the metrics Service by its port name and keeps the objects’ namespace label', async () => {
    const { objects } = await renderChart({ metrics: { serviceMonitor: { enabled: true } } });
    const [monitor] = only(objects, 'ServiceMonitor');
    const service = only(objects, 'Service').find((s) => s.metadata.name.endsWith('-metrics'))!;
    const spec = monitor!['spec'] as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      endpoints: Array<{ port: string; path: string; honorLabels: boolean }>;
    };
    // The selector picks the metrics Service (and only it: the component label).
    for (const [k, v] of Object.entries(spec.selector.matchLabels))
      expect(service.metadata.labels?.[k], k).toBe(v);
    expect(spec.selector.matchLabels['app.kubernetes.io/component']).toBe('metrics');
    expect(spec.namespaceSelector.matchNames).toEqual(['cmk-system']);
    const ports = (service['spec'] as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
    expect(spec.endpoints).toEqual([expect.objectContaining({ path: '/metrics', honorLabels: true })]);
    expect(ports).toContain(spec.endpoints[0]!.port);
  });
});

describe('the dashboard ConfigMap', () => {
  it('carries dashboards/cmk-operator.json with the sidecar label, only when enabled', async () => {
    expect(
      only((await renderChart({})).objects, 'ConfigMap').filter((c) =>
        c.metadata.name.endsWith('-dashboard'),
      ),
    ).toEqual([]);
    const { objects } = await renderChart({
      grafanaDashboard: { enabled: true, annotations: { grafana_folder: 'Operators' } },
    });
    const map = only(objects, 'ConfigMap').find((c) => c.metadata.name.endsWith('-dashboard'))!;
    expect(map.metadata.labels?.['grafana_dashboard']).toBe('1');
    const data = (map['data'] as Record<string, string>)['cmk-operator.json']!;
    expect(JSON.parse(data)).toEqual(
      JSON.parse(readFileSync(join(repoRoot, 'dashboards/cmk-operator.json'), 'utf8')),
    );
  });
});

it('with every monitoring value on, the objects are strictly valid (kubeconform)', async () => {
  const { objects } = await renderChart({
    metrics: { serviceMonitor: { enabled: true, labels: { release: 'kps' } } },
    prometheusRule: { enabled: true, labels: { release: 'kps' }, alertLabels: { team: 'platform' } },
    grafanaDashboard: { enabled: true },
  });
  const wanted = new Set(['ServiceMonitor', 'PrometheusRule', 'ConfigMap']);
  const picked = objects.filter((o) => wanted.has(o.kind));
  expect(new Set(picked.map((o) => o.kind))).toEqual(wanted);
  const manifests = picked.map((o) => stringify(o)).join('---\n');
  const result = await kubeconform(manifests, schemaDir);
  expect(
    result.resources.filter((r) => r.status !== 'statusValid'),
    result.stderr,
  ).toEqual([]);
  expect(result.resources).toHaveLength(picked.length);
  // The schemas are strict: a misspelt field is refused.
  const broken = await kubeconform(manifests.replace('honorLabels: true', 'honourLabels: true'), schemaDir);
  expect(broken.resources.find((r) => r.kind === 'ServiceMonitor')?.status).toBe('statusInvalid');
});
