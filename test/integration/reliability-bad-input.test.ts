// Bad input, the whole corpus: every manifest under test/corpus/invalid/ is applied to the real
// kube-apiserver by an ordinary user (a minted identity with a namespaced Role, as a team applying
// its manifests would be) and must be refused with 422 Invalid, on the field its header names, with a
// message that says what to write instead. Each file also carries a valid sibling (or, for a forbidden
// update, the valid original) that differs only under that field and must be accepted, so every
// case fails for the stated reason and no other.
//
// Corpus file format (YAML, two documents):
//   # <why this is wrong>
//   # case: create | update
//   # expect: <field path the API server reports, e.g. spec.rotation.periodInDays>
//   # message: <fragment of the message; names the fix>
//   # fieldValidation: Strict        (optional: the request asks for strict field validation, as kubectl does)
//   # status: 400                    (optional: the status when not 422; strict decoding errors are 400 BadRequest)
//   <valid document>
//   ---
//   <invalid document: created beside the valid one (case create) or replacing it (case update)>

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kinds } from '../../src/api/kinds.ts';
import { apiVersion, group } from '../../src/api/shared.ts';
import { recordFigures } from '../support/figures.ts';
import {
  adminIdentity,
  type ClusterIdentity,
  createNamespace,
  eventually,
  mintClusterIdentity,
  uniqueName,
} from './support/cluster.ts';
import { installCrds } from './support/crds.ts';

const corpusDir = join(import.meta.dirname, '..', 'corpus', 'invalid');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string };
  spec?: Record<string, unknown>;
}

interface CorpusCase {
  file: string;
  kind: string;
  mode: 'create' | 'update';
  expect: string;
  message: string;
  strict: boolean;
  status: number;
  valid: Manifest;
  invalid: Manifest;
}

interface StatusCause {
  field?: string;
  message?: string;
  reason?: string;
}
interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  details?: { causes?: StatusCause[] };
}

function header(text: string, key: string): string | undefined {
  return new RegExp(`^# ${key}: (.+)$`, 'm').exec(text)?.[1]?.trim();
}

function loadCorpus(): CorpusCase[] {
  return readdirSync(corpusDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(corpusDir, file), 'utf8');
      const docs = parseAllDocuments(text).map((d) => d.toJS() as Manifest);
      const mode = header(text, 'case');
      const expectPath = header(text, 'expect');
      const message = header(text, 'message');
      if (docs.length !== 2 || (mode !== 'create' && mode !== 'update') || !expectPath || !message) {
        throw new Error(`${file}: needs two documents and the headers case, expect and message`);
      }
      const [valid, invalid] = docs as [Manifest, Manifest];
      if (valid.kind !== invalid.kind) throw new Error(`${file}: both documents must be of one kind`);
      return {
        file,
        kind: valid.kind,
        mode,
        expect: expectPath,
        message,
        strict: header(text, 'fieldValidation') === 'Strict',
        status: Number(header(text, 'status') ?? 422),
        valid,
        invalid,
      };
    });
}

/** Field paths (spec.a.b[0]) where two JSON values differ. */
function differingPaths(a: unknown, b: unknown, path: string): string[] {
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => differingPaths(x, b[i], `${path}[${i}]`));
  }
  const isObject = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differingPaths(a[k], b[k], `${path}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

const under = (path: string, prefix: string) =>
  path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

const corpus = loadCorpus();
const plural = Object.fromEntries(kinds.map((k) => [k.kind, k.plural]));
let ns: string;
let user: ClusterIdentity;
const results: Array<{ kind: string; mode: string; status: number }> = [];

const collection = (kind: string, strict: boolean) =>
  `/apis/${apiVersion}/namespaces/${ns}/${plural[kind]}${strict ? '?fieldValidation=Strict' : ''}`;
const item = (kind: string, name: string, strict: boolean) =>
  `/apis/${apiVersion}/namespaces/${ns}/${plural[kind]}/${name}${strict ? '?fieldValidation=Strict' : ''}`;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('bad-input');
  // An ordinary user: may create, read and update the cmk.io kinds in this namespace, nothing else.
  const team = uniqueName('team');
  user = await mintClusterIdentity(uniqueName('dev'), [team]);
  const rbac = adminIdentity().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'cmk-editor' },
      rules: [{ apiGroups: [group], resources: Object.values(plural), verbs: ['get', 'create', 'update'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'cmk-editor' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cmk-editor' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: team }],
    },
  });
  // The authorizer reads RBAC through an informer: wait until the user may create.
  await eventually(
    async () => {
      const probe = {
        apiVersion,
        kind: 'KmsKey',
        metadata: { name: 'rbac-probe' },
        spec: { keyId: 'alias/probe' },
      };
      const res = await user.request('POST', collection('KmsKey', false), probe);
      return res.status === 201 || res.status === 409 ? true : undefined;
    },
    { what: 'the test user may create', timeoutMs: 30_000 },
  );
}, 120_000);

describe('the bad-input corpus', () => {
  it('has at least 60 cases, covers every kind, and every case is well-formed', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    const byKind = new Set(corpus.map((c) => c.kind));
    for (const k of kinds) expect(byKind, `no corpus case for ${k.kind}`).toContain(k.kind);
    // Both create and update (immutability) cases exist for every workload kind and KmsKey.
    for (const k of kinds.filter((x) => x.kind !== 'KeyReferenceGrant')) {
      expect(
        corpus.some((c) => c.kind === k.kind && c.mode === 'update'),
        `${k.kind} update case`,
      ).toBe(true);
    }
    const problems: string[] = [];
    for (const c of corpus) {
      // The file name says the kind (grouping by kind), and the valid and invalid documents differ
      // only under the field the case is about: nothing else can be why it is refused.
      const short = kinds.find((k) => k.kind === c.kind)?.shortNames[0];
      const prefix = { kk: 'kmskey', flinkapp: 'flinkapp', kstable: 'kstable' }[short ?? ''] ?? short;
      if (!c.file.startsWith(`${prefix}-`)) problems.push(`${c.file}: does not start with ${prefix}-`);
      const diff = differingPaths(c.valid.spec, c.invalid.spec, 'spec');
      if (diff.length === 0) problems.push(`${c.file}: the documents do not differ`);
      const scope = c.expect.replace(/\[\d+\]$/, '');
      for (const p of diff) {
        if (!under(p, scope)) problems.push(`${c.file}: ${p} differs, outside ${c.expect}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(corpus.map((c) => [c.file, c] as const))(
    '%s is refused on its field with the fix',
    {
      timeout: 60_000,
    },
    async (_file, c) => {
      const base = c.file.replace(/\.yaml$/, '');
      const validName = c.mode === 'update' ? base : `${base}-valid`;
      const valid = { ...c.valid, metadata: { name: validName } };
      const accepted = await user.request('POST', collection(c.kind, c.strict), valid);
      expect(accepted.status, `valid sibling refused: ${JSON.stringify(accepted.body)}`).toBe(201);

      let refused: { status: number; body: unknown };
      if (c.mode === 'create') {
        refused = await user.request('POST', collection(c.kind, c.strict), {
          ...c.invalid,
          metadata: { name: base },
        });
      } else {
        const stored = accepted.body as Manifest;
        refused = await user.request('PUT', item(c.kind, validName, c.strict), {
          ...c.invalid,
          metadata: { name: validName, resourceVersion: stored.metadata.resourceVersion },
        });
      }
      results.push({ kind: c.kind, mode: c.mode, status: refused.status });
      const body = refused.body as StatusBody;
      // 422 Invalid for every kind of bad input the schema judges: limits, patterns, enums, wrong
      // types, missing fields, CEL rules and transition rules, each cause on its field.
      // Unknown fields under strict field validation (kubectl's default) fail decoding before the
      // schema runs: 400 BadRequest, the field named in the message, no causes.
      expect(refused.status, JSON.stringify(body)).toBe(c.status);
      if (c.status === 422) {
        expect(body.reason).toBe('Invalid');
        const causes = body.details?.causes ?? [];
        const onField = causes.filter((x) => x.field === c.expect);
        expect(onField.length, `no cause on ${c.expect}: ${JSON.stringify(causes)}`).toBeGreaterThan(0);
        expect(
          onField.some((x) => x.message?.includes(c.message)),
          `no cause on ${c.expect} says "${c.message}": ${JSON.stringify(onField)}`,
        ).toBe(true);
      } else {
        expect(body.reason).toBe('BadRequest');
      }
      // What kubectl prints (the top-level message) names the field and the fix too.
      expect(body.message).toContain(c.expect);
      expect(body.message).toContain(c.message);
      // And nothing was stored: the refused object does not exist, or is unchanged.
      const after = await user.request('GET', item(c.kind, c.mode === 'update' ? validName : base, false));
      if (c.mode === 'create') expect(after.status).toBe(404);
      else expect((after.body as Manifest).spec).toEqual((accepted.body as Manifest).spec);
    },
  );

  it('records the figures', () => {
    const perKind = Object.fromEntries(
      kinds.map((k) => [k.kind, results.filter((r) => r.kind === k.kind && r.status >= 400).length]),
    );
    const rejected = results.filter((r) => r.status === 422 || r.status === 400).length;
    expect(rejected).toBe(corpus.length);
    recordFigures('bad-input', {
      title: 'Bad input (invalid manifests refused at admission)',
      reproduce: 'npx vitest run --project integration test/integration/reliability-bad-input.test.ts',
      figures: [
        { what: 'invalid manifests in the corpus', value: corpus.length },
        { what: 'refused, naming the field and the fix', value: rejected },
        { what: 'refused with 422 Invalid', value: results.filter((r) => r.status === 422).length },
        {
          what: 'refused with 400 BadRequest (unknown fields, strict field validation)',
          value: results.filter((r) => r.status === 400).length,
        },
        {
          what: 'forbidden updates (immutable fields) refused',
          value: results.filter((r) => r.mode === 'update' && r.status === 422).length,
        },
        ...Object.entries(perKind).map(([kind, n]) => ({ what: `${kind} cases refused`, value: n })),
      ],
      lost: { 'invalid manifests accepted': results.filter((r) => r.status < 300).length },
      headline: { badInputsRejected: rejected },
    });
  });
});
