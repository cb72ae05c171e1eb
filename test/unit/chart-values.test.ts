// The chart's values.yaml and values.schema.json describe the same values: every key a user can find
// in values.yaml is in the schema, every value the schema defines for the chart is in values.yaml
// (with its comment), and the schema refuses unknown keys at every level, so a misspelt key fails
// `helm install` instead of being ignored. The memory the chart asks for is checked against the
// newest benchmark at 10,000 workloads.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = new URL('../..', import.meta.url).pathname;
const chart = join(root, 'charts/cmk-operator');
const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as Schema;

interface Schema {
  $ref?: string;
  $comment?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  oneOf?: Schema[];
  definitions?: Record<string, Schema>;
}

/** A subtree whose fields are a Kubernetes type's (marked by its $comment), not the chart's own. */
const isKubernetesType = (s: Schema) => s.$comment?.startsWith('Kubernetes ') ?? false;
/** Helm's reserved `global`, for parent charts: open by design and absent from values.yaml. */
const helmReserved = new Set(['global']);

function resolve(s: Schema): Schema {
  if (!s.$ref) return s;
  const name = s.$ref.replace('#/definitions/', '');
  const target = schema.definitions?.[name];
  if (!target) throw new Error(`unresolved ${s.$ref}`);
  return resolve(target);
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Paths of values.yaml keys the schema does not define. */
function keysMissingFromSchema(value: unknown, node: Schema, path: string): string[] {
  const s = resolve(node);
  if (Array.isArray(value))
    return s.items ? value.flatMap((v, i) => keysMissingFromSchema(v, s.items!, `${path}[${i}]`)) : [];
  if (!isMapping(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const child =
      s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    const at = path ? `${path}.${k}` : k;
    return child ? keysMissingFromSchema(v, child, at) : [at];
  });
}

/** Paths of the chart's own schema properties that values.yaml does not show. */
function propertiesMissingFromValues(value: unknown, node: Schema, path: string): string[] {
  const s = resolve(node);
  if (isKubernetesType(s) || !s.properties) return [];
  const v = isMapping(value) ? value : {};
  return Object.entries(s.properties).flatMap(([k, child]) => {
    const at = path ? `${path}.${k}` : k;
    if (!path && helmReserved.has(k)) return [];
    if (!(k in v)) return [at];
    return propertiesMissingFromValues(v[k], child, at);
  });
}

/** Paths of object schemas that accept keys they do not define. */
function openObjects(node: Schema, path: string): string[] {
  const here: string[] = [];
  const isObject = node.type === 'object' || node.properties !== undefined;
  if (isObject && node.additionalProperties === undefined && !helmReserved.has(path.split('.').pop()!))
    here.push(path);
  if (node.additionalProperties === true) here.push(path);
  const children: Array<[string, Schema]> = [
    ...Object.entries(node.properties ?? {}).map(([k, c]) => [`${path}.${k}`, c] as [string, Schema]),
    ...Object.entries(node.definitions ?? {}).map(([k, c]) => [`#${k}`, c] as [string, Schema]),
    ...(typeof node.additionalProperties === 'object'
      ? [[`${path}.*`, node.additionalProperties] as [string, Schema]]
      : []),
    ...(node.items ? [[`${path}[]`, node.items] as [string, Schema]] : []),
    ...(node.oneOf ?? []).map((c, i) => [`${path}|${i}`, c] as [string, Schema]),
  ];
  return [...here, ...children.flatMap(([p, c]) => openObjects(c, p))];
}

describe('values.yaml and values.schema.json', () => {
  it('every key in values.yaml is defined by the schema', () => {
    expect(keysMissingFromSchema(values, schema, '')).toEqual([]);
  });

  it('every chart value the schema defines is in values.yaml', () => {
    expect(propertiesMissingFromValues(values, schema, '')).toEqual([]);
  });

  it('the schema refuses unknown keys at every level', () => {
    expect(openObjects(schema, '')).toEqual([]);
  });

  it('the checks find what they look for', () => {
    expect(keysMissingFromSchema({ resync: '1m', image: { colour: 'red' } }, schema, '')).toEqual([
      'image.colour',
    ]);
    expect(propertiesMissingFromValues({}, schema, '')).toContain('tenancy');
    expect(openObjects({ type: 'object', properties: { a: { type: 'object' } } }, '')).toEqual(['', '.a']);
  });
});

// ---- memory against the benchmark ---------------------------------------------------------------

interface BenchRun {
  n: number;
  scenarios: Array<{ scenario: string; peakRssMiB: number }>;
}

function benchResults(dir: string): Array<{ file: string; finishedAt: string; runs: BenchRun[] }> {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return benchResults(path);
    if (name !== 'results.json') return [];
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { finishedAt: string; runs: BenchRun[] };
    return [{ file: path.slice(root.length), finishedAt: doc.finishedAt, runs: doc.runs }];
  });
}

/** A memory quantity in MiB (Mi, Gi, or plain bytes). */
function mebibytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi)?$/.exec(quantity);
  if (!m) throw new Error(`unexpected memory quantity ${quantity}`);
  const n = Number(m[1]);
  return m[2] === 'Gi' ? n * 1024 : m[2] === 'Mi' ? n : n / 2 ** 20;
}

describe('the chart memory fits the benchmark at 10,000 workloads', () => {
  // The newest complete run: one whose fleet reached the steady scenario (a run that missed a
  // deadline has no settled figure to size the request by).
  const newest = benchResults(join(root, 'bench/results'))
    .flatMap((r) =>
      r.runs
        .filter((run) => run.n === 10_000 && run.scenarios.some((s) => s.scenario === 'steady'))
        .map((run) => ({ ...r, run })),
    )
    .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt))
    .at(-1);
  const resources = values['resources'] as { requests: { memory: string }; limits: { memory: string } };

  it('there is a complete benchmark at 10,000 workloads', () => {
    expect(newest?.file).toBeDefined();
  });

  // The peak also counts every run at 10,000 in the 24 hours before it (a full run stops after a
  // switch that misses its deadline, so the switch's peak is in a run without a settled figure);
  // not the runs kept as a "before" of a change, which measured older code.
  const sameTree = benchResults(join(root, 'bench/results')).flatMap((r) =>
    newest &&
    !r.file.includes('/before-') &&
    Date.parse(newest.finishedAt) - Date.parse(r.finishedAt) <= 24 * 3_600_000
      ? r.runs.filter((run) => run.n === 10_000).map((run) => ({ file: r.file, run }))
      : [],
  );

  it('requests.memory covers the settled RSS; limits.memory the peak with 25% headroom', () => {
    const steady = newest!.run.scenarios.find((s) => s.scenario === 'steady')!.peakRssMiB;
    const peaks = sameTree.map(({ file, run }) => ({
      file,
      peak: Math.max(...run.scenarios.map((s) => s.peakRssMiB)),
    }));
    const highest = peaks.sort((a, b) => b.peak - a.peak)[0]!;
    const peak = highest.peak;
    const figures = `${newest!.file}: settled ${steady} MiB; ${highest.file}: peak ${peak} MiB`;
    expect(mebibytes(resources.requests.memory), figures).toBeGreaterThanOrEqual(steady);
    expect(mebibytes(resources.limits.memory), figures).toBeGreaterThanOrEqual(peak * 1.25);
  });
});
