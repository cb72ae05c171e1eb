// Helm, kubeconform and RBAC helpers for the chart tests (test/integration/chart.test.ts).
//
// - helm runs with its own cache/config/data homes in a temp dir, so tests never read or write the
//   user's ~/.config/helm and never reach a chart repository.
// - kubeconform never touches the network: it is given one local schema location, filled by
//   `writeKubeconformSchemas` with JSON schemas converted from the OpenAPI v3 documents a running
//   kube-apiserver serves (built-in kinds at that exact version, and our CRDs as the apiserver
//   publishes them), plus `serviceMonitorSchema` for the one third-party kind the chart renders.
// - RBAC: `grantedPairs` flattens rendered Roles/ClusterRoles into (group, resource, verb) pairs;
//   `auditPairs` does the same for the requests an identity made, read from an apiserver audit
//   log, so the two sets can be compared.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { findBinaries } from '../../../src/dev/devenv/binaries.ts';

export const chartDir = fileURLToPath(new URL('../../../charts/cmk-operator', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** What the chart is tested against (the test apiserver's version). */
export const kubeVersion = '1.35.4';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export interface Tools {
  helm: string;
  kubeconform: string;
}

let tools: Promise<Tools> | undefined;

/** helm and kubeconform from the test-binary cache (src/dev/devenv/binaries.ts); throws if absent. */
export function chartTools(): Promise<Tools> {
  tools ??= findBinaries().then((b) => {
    if (!b.helm || !b.kubeconform)
      throw new Error('helm and kubeconform are needed: run `npm run binaries` (scripts/test-binaries.sh)');
    return { helm: b.helm, kubeconform: b.kubeconform };
  });
  return tools;
}

// One per test file (each file imports this module afresh), removed when the file's tests end: a
// test worker is stopped without its 'exit' handlers running.
const helmHome = mkdtempSync(join(tmpdir(), 'cmk-helm-'));
afterAll(() => rmSync(helmHome, { recursive: true, force: true }));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary; never throws on a non-zero exit (the result carries it). */
export function run(
  file: string,
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** `helm <args>`; throws with helm's stderr unless it exits 0. */
export async function helm(args: string[]): Promise<string> {
  const { helm: bin } = await chartTools();
  const result = await run(bin, args, {
    env: {
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    },
  });
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}):\n${result.stderr}`);
  return result.stdout;
}

/** Writes `values` to a temp file and returns `--values <file>`. */
export function valuesArgs(values: Record<string, unknown>): string[] {
  const file = join(mkdtempSync(join(helmHome, 'values-')), 'values.yaml');
  writeFileSync(file, stringify(values));
  return ['--values', file];
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null && typeof m === 'object' && 'kind' in m);
}

/** `helm template` of the chart with `values`; returns the text and the parsed objects. */
export async function renderChart(
  values: Record<string, unknown> = {},
  options: { release?: string; namespace?: string; includeCrds?: boolean } = {},
): Promise<{ text: string; objects: Manifest[] }> {
  const text = await helm([
    'template',
    options.release ?? 'cmk',
    chartDir,
    '--namespace',
    options.namespace ?? 'cmk-system',
    '--kube-version',
    kubeVersion,
    ...(options.includeCrds ? ['--include-crds'] : []),
    ...valuesArgs(values),
  ]);
  return { text, objects: parseManifests(text) };
}

// ---- kubeconform with local schemas -------------------------------------------------------------

type Json = Record<string, unknown>;

interface OpenApiDocument {
  components?: { schemas?: Record<string, Json> };
}

/** kubeconform's `{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`; the core group's "Group" is "v1". */
export const schemaLocationTemplate = '{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json';

function schemaFile(group: string, version: string, kind: string): string {
  return join(group || version, `${kind.toLowerCase()}_${version}.json`);
}

const refPrefix = '#/components/schemas/';
const opaqueKeys = new Set(['default', 'enum', 'example']);

/**
 * One OpenAPI v3 schema as a JSON schema for `kubeconform -strict`: refs point into a local
 * `definitions`, and every object schema that lists its properties refuses others (what the
 * `-strict` flavour of the kubernetes-json-schema files does), unless the apiserver keeps unknown
 * fields there (x-kubernetes-preserve-unknown-fields).
 */
function strictSchema(node: unknown, refs: Set<string>): unknown {
  if (Array.isArray(node)) return node.map((n) => strictSchema(n, refs));
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith(refPrefix)) {
      const name = value.slice(refPrefix.length);
      refs.add(name);
      out[key] = `#/definitions/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    } else if (opaqueKeys.has(key) || key.startsWith('x-kubernetes-')) {
      out[key] = value;
    } else if (key === 'properties' && value && typeof value === 'object') {
      // Property names are data, not keywords: recurse into each property's schema only.
      out[key] = Object.fromEntries(
        Object.entries(value as Json).map(([name, schema]) => [name, strictSchema(schema, refs)]),
      );
    } else {
      out[key] = strictSchema(value, refs);
    }
  }
  if (
    out['properties'] !== undefined &&
    out['additionalProperties'] === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out['additionalProperties'] = false;
  }
  return out;
}

/** JSON schema files (relative path -> schema) for the kinds in `doc` whose `apiVersion/kind` is wanted. */
export function kubeconformSchemas(doc: OpenApiDocument, wanted: Set<string>): Map<string, Json> {
  const components = doc.components?.schemas ?? {};
  const files = new Map<string, Json>();
  for (const schema of Object.values(components)) {
    const gvks = (schema['x-kubernetes-group-version-kind'] ?? []) as Array<{
      group: string;
      version: string;
      kind: string;
    }>;
    for (const gvk of gvks) {
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      if (!wanted.has(`${apiVersion}/${gvk.kind}`)) continue;
      // The root plus the closure of what it references, under `definitions`.
      const definitions: Json = {};
      const pending = new Set<string>();
      const root = strictSchema(schema, pending) as Json;
      while (pending.size > 0) {
        const name = pending.values().next().value as string;
        pending.delete(name);
        if (name in definitions) continue;
        const target = components[name];
        if (!target) throw new Error(`${apiVersion}/${gvk.kind}: unresolved $ref ${name}`);
        const refs = new Set<string>();
        definitions[name] = strictSchema(target, refs);
        for (const r of refs) if (!(r in definitions)) pending.add(r);
      }
      files.set(schemaFile(gvk.group, gvk.version, gvk.kind), { ...root, definitions });
    }
  }
  return files;
}

/**
 * A minimal strict schema for monitoring.coreos.com/v1 ServiceMonitor covering the fields the chart
 * renders (no Prometheus Operator CRD is installed in the test cluster, and there is no schema
 * repository offline). Written from the ServiceMonitor API reference; anything else is refused.
 */
export const serviceMonitorSchema: Json = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { type: 'string', enum: ['monitoring.coreos.com/v1'] },
    kind: { type: 'string', enum: ['ServiceMonitor'] },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        annotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['selector', 'endpoints'],
      properties: {
        jobLabel: { type: 'string' },
        selector: {
          type: 'object',
          additionalProperties: false,
          properties: {
            matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
            matchExpressions: { type: 'array', items: { type: 'object' } },
          },
        },
        namespaceSelector: {
          type: 'object',
          additionalProperties: false,
          properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } },
        },
        endpoints: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              port: { type: 'string' },
              targetPort: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
              path: { type: 'string' },
              scheme: { type: 'string', enum: ['http', 'https'] },
              interval: {
                type: 'string',
                pattern:
                  '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
              },
              scrapeTimeout: {
                type: 'string',
                pattern:
                  '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
              },
              honorLabels: { type: 'boolean' },
            },
          },
        },
      },
    },
  },
};

/**
 * Fills `dir` with kubeconform schemas for `wanted` (`apiVersion/Kind` strings), taken from the
 * OpenAPI v3 documents `fetchJson` returns (`/openapi/v3` and the group-version documents it lists),
 * plus the ServiceMonitor schema. Throws when a wanted kind has no schema.
 */
export async function writeKubeconformSchemas(
  dir: string,
  wanted: string[],
  fetchJson: (path: string) => Promise<unknown>,
): Promise<void> {
  const index = (await fetchJson('/openapi/v3')) as { paths: Record<string, { serverRelativeURL: string }> };
  const wantedSet = new Set(wanted);
  const files = new Map<string, Json>();
  const groupVersions = new Set(
    wanted
      .filter((w) => !w.startsWith('monitoring.coreos.com/'))
      .map((w) => {
        const parts = w.split('/');
        return parts.length === 2 ? `api/${parts[0]}` : `apis/${parts[0]}/${parts[1]}`;
      }),
  );
  for (const gv of groupVersions) {
    const entry = index.paths[gv];
    if (!entry) throw new Error(`the apiserver serves no OpenAPI document for ${gv}`);
    // Without the ?hash= query: a hash that changed since the index was read answers 301.
    const doc = (await fetchJson(entry.serverRelativeURL.split('?')[0]!)) as OpenApiDocument;
    for (const [file, schema] of kubeconformSchemas(doc, wantedSet)) files.set(file, schema);
  }
  files.set(schemaFile('monitoring.coreos.com', 'v1', 'ServiceMonitor'), serviceMonitorSchema);
  for (const w of wanted) {
    const parts = w.split('/');
    const kind = parts.pop()!;
    const version = parts.pop()!;
    if (!files.has(schemaFile(parts[0] ?? '', version, kind))) throw new Error(`no schema for ${w}`);
  }
  for (const [file, schema] of files) {
    const path = join(dir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(schema));
  }
}

export interface KubeconformResource {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: string;
  msg: string;
}

/** `kubeconform -strict` over `manifests` with only the local schemas in `schemaDir`. */
export async function kubeconform(
  manifests: string,
  schemaDir: string,
): Promise<{ code: number; resources: KubeconformResource[]; stderr: string }> {
  const { kubeconform: bin } = await chartTools();
  const result = await run(
    bin,
    [
      '-strict',
      '-summary',
      '-verbose',
      '-output',
      'json',
      '-kubernetes-version',
      kubeVersion,
      '-schema-location',
      join(schemaDir, schemaLocationTemplate),
      '-',
    ],
    { input: manifests },
  );
  let resources: KubeconformResource[] = [];
  try {
    resources = (JSON.parse(result.stdout) as { resources?: KubeconformResource[] }).resources ?? [];
  } catch {
    throw new Error(`kubeconform printed no JSON (${result.code}): ${result.stdout}\n${result.stderr}`);
  }
  return { code: result.code, resources, stderr: result.stderr };
}

// ---- RBAC ---------------------------------------------------------------------------------------

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

/** `group resource[/subresource] verb`, the unit both sides are compared in. */
export type Pair = string;

export const pair = (group: string, resource: string, verb: string): Pair =>
  `${group || 'core'} ${resource} ${verb}`;

/** Every (group, resource, verb) the rules grant; wildcards are refused (the chart must not use them). */
export function rulePairs(rules: PolicyRule[]): Set<Pair> {
  const out = new Set<Pair>();
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) {
          if ([group, resource, verb].includes('*'))
            throw new Error(`wildcard in rule ${JSON.stringify(rule)}`);
          out.add(pair(group, resource, verb));
        }
      }
    }
  }
  return out;
}

/** The rules of every Role/ClusterRole bound (in `objects`) to the ServiceAccount `namespace/name`. */
export function rulesBoundTo(
  objects: Manifest[],
  serviceAccount: { namespace: string; name: string },
): Array<{ role: Manifest; rules: PolicyRule[] }> {
  const bound: Array<{ role: Manifest; rules: PolicyRule[] }> = [];
  for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const subjects = (binding['subjects'] ?? []) as Array<{ kind: string; name: string; namespace?: string }>;
    if (
      !subjects.some(
        (s) =>
          s.kind === 'ServiceAccount' &&
          s.name === serviceAccount.name &&
          s.namespace === serviceAccount.namespace,
      )
    )
      continue;
    const ref = binding['roleRef'] as { kind: string; name: string };
    const role = objects.find(
      (o) =>
        o.kind === ref.kind &&
        o.metadata.name === ref.name &&
        (ref.kind === 'ClusterRole' || o.metadata.namespace === binding.metadata.namespace),
    );
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to a missing ${ref.kind}`);
    bound.push({ role, rules: (role['rules'] ?? []) as PolicyRule[] });
  }
  return bound;
}

export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
}

/** The audit events of `username` (JSON lines, one per stage; RequestReceived omitted by the policy). */
export async function readAuditLog(path: string, username: string): Promise<AuditEvent[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.user.username === username && e.objectRef?.resource);
}

/**
 * The (group, resource, verb) pairs one audited request was authorized for. A server-side apply
 * (verb patch) that created the object (201) was also authorized as create: the apiserver checks
 * create before an update that creates, and the audit event shows only the request's own verb.
 */
export function auditPairs(e: AuditEvent): Pair[] {
  const ref = e.objectRef!;
  const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource!;
  const pairs = [pair(ref.apiGroup ?? '', resource, e.verb)];
  if (e.verb === 'patch' && e.responseStatus?.code === 201)
    pairs.push(pair(ref.apiGroup ?? '', resource, 'create'));
  return pairs;
}

/** An audit policy that records, at Metadata level, every request of the given users and nothing else. */
export function auditPolicy(users: string[]): string {
  return stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [{ level: 'Metadata', users }, { level: 'None' }],
  });
}
