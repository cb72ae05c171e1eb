// docs/metrics.md, the Grafana dashboard and the alert rules agree: every metric a dashboard panel or
// an alert reads is one the page lists (a renamed metric cannot leave a panel silently empty or an
// alert that never fires), the page lists exactly the per-object families the operator serves, every
// alert is documented and links a runbook section that exists, and the chart ships the same
// dashboard as dashboards/.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resourceMetricFamilies } from '../../src/reconcile/resource-metrics.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const metricsDoc = read('docs/metrics.md');
const runbooks = read('docs/runbooks.md');
const dashboardText = read('dashboards/cmk-operator.json');
const ruleTemplate = read('charts/cmk-operator/templates/prometheusrule.yaml');

/** Metric names in the first column of the page's tables (`process_*`-style groups left out). */
const documented = new Set(
  [...metricsDoc.matchAll(/^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|/gm)].map((m) => m[1]!),
);

const keywords = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
]);

/** The metric names a PromQL expression reads (histogram series counted as their family). */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0];
    const next = bare.slice(m.index + name.length).trimStart();
    const prev = bare[m.index - 1] ?? '';
    if (next.startsWith('(') || keywords.has(name) || /[0-9.]/.test(prev)) continue;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    names.add(family !== name && documented.has(family) ? family : name);
  }
  return [...names];
}

/** Every `expr` and templating query in the dashboard. */
function dashboardQueries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) dashboardQueries(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'expr' && typeof v === 'string') out.push(v);
      // Grafana's label_values(<series>, <label>): the series is PromQL, the label is not.
      else if (k === 'definition' && typeof v === 'string')
        out.push(v.replace(/^label_values\((.*),\s*\w+\)$/, '$1'));
      else dashboardQueries(v, out);
    }
  }
  return out;
}

/** The `expr: |-` blocks of the rule template, Helm actions blanked out. */
function ruleExpressions(template: string): string[] {
  const exprs: string[] = [];
  const lines = template.split('\n');
  lines.forEach((line, i) => {
    const m = /^(\s*)expr: \|-$/.exec(line);
    if (!m) return;
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && /^\s*/.exec(lines[j]!)![0].length > m[1]!.length; j++)
      body.push(lines[j]!);
    exprs.push(body.join('\n').replace(/\{\{-?[^}]*-?\}\}/g, ''));
  });
  return exprs;
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}
const runbookAnchors = new Set([...runbooks.matchAll(/^#{2,4} (.+)$/gm)].map((m) => slug(m[1]!)));

describe('metricsIn', () => {
  it.each([
    ['a plain selector', 'cmk_ready{job="x"} == 0', ['cmk_ready']],
    [
      'aggregations, matchers and a binary op with on()',
      'max by (namespace, name) (cmk_kmskey_grants{a="b"}) / on (namespace, name) cmk_kmskey_grants_limit > 0.8',
      ['cmk_kmskey_grants', 'cmk_kmskey_grants_limit'],
    ],
    [
      'a histogram through its buckets, functions and ranges',
      'histogram_quantile(0.99, sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket[5m])))',
      ['controller_runtime_reconcile_time_seconds'],
    ],
    ['time() and vector() are functions', '(x_seconds - time()) or vector(0)', ['x_seconds']],
    ['label values in strings are not metrics', 'up{job=~"$job|cmk_ready"}', ['up']],
    ['an unknown metric is reported as is', 'cmk_made_up_total', ['cmk_made_up_total']],
  ])('%s', (_name, expr, expected) => {
    expect(metricsIn(expr).sort()).toEqual([...expected].sort());
  });
});

describe('the dashboard', () => {
  const dashboard = JSON.parse(dashboardText) as { panels: Array<{ title: string; type: string }> };
  const queries = dashboardQueries(dashboard);

  it('parses, and every panel but a row has a query', () => {
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row'))
      expect(dashboardQueries(p).length, p.title).toBeGreaterThan(0);
  });

  it('reads only metrics docs/metrics.md lists', () => {
    const unknown = queries.flatMap((q) =>
      metricsIn(q)
        .filter((m) => !documented.has(m))
        .map((m) => `${m} in ${q}`),
    );
    expect(unknown).toEqual([]);
  });

  it('shows every per-object metric', () => {
    const used = new Set(queries.flatMap(metricsIn));
    const unused = Object.keys(resourceMetricFamilies).filter(
      (m) =>
        !used.has(m) &&
        // Shown in the object's own status and the alerts; no panel of their own.
        ![
          'cmk_workload_on_current_key_material',
          'cmk_kmskey_rotation_period_seconds',
          'cmk_kmskey_last_inventory_timestamp_seconds',
        ].includes(m),
    );
    expect(unused).toEqual([]);
  });

  it('is shipped unchanged by the chart', () => {
    expect(
      read('charts/cmk-operator/dashboards/cmk-operator.json'),
      'cp dashboards/cmk-operator.json charts/cmk-operator/dashboards/',
    ).toBe(dashboardText);
  });
});

describe('the alert rules', () => {
  const exprs = ruleExpressions(ruleTemplate);
  const alerts = [...ruleTemplate.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);

  it('read only metrics docs/metrics.md lists', () => {
    expect(exprs.length).toBe(alerts.length);
    const unknown = exprs.flatMap((e) =>
      metricsIn(e)
        .filter((m) => !documented.has(m))
        .map((m) => `${m} in ${e}`),
    );
    expect(unknown).toEqual([]);
  });

  it('are each documented, and docs/metrics.md lists no other', () => {
    const inDoc = [...metricsDoc.matchAll(/^\| `(Cmk\w+)` \|/gm)].map((m) => m[1]!);
    expect(inDoc.sort()).toEqual([...alerts].sort());
  });

  it('link runbook sections that exist, and so do the docs', () => {
    const linked = [
      ...[...ruleTemplate.matchAll(/%s#([\w-]+)/g)].map((m) => m[1]!),
      ...[...metricsDoc.matchAll(/runbooks\.md#([\w-]+)/g)].map((m) => m[1]!),
      ...[...runbooks.matchAll(/\]\(#([\w-]+)\)/g)].map((m) => m[1]!),
    ];
    expect(linked.length).toBeGreaterThan(alerts.length);
    expect(linked.filter((a) => !runbookAnchors.has(a))).toEqual([]);
  });
});

describe('docs/metrics.md', () => {
  it('lists exactly the per-object families the operator serves', () => {
    const perObject = [...documented].filter((m) => /^cmk_(object|workload|keyspaces|kmskey)_/.test(m));
    expect(perObject.sort()).toEqual(Object.keys(resourceMetricFamilies).sort());
  });
});
