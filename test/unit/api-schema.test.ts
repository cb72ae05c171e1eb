// The CRD schemas must be structural (or the API server refuses them, or silently prunes fields),
// must explain every field (kubectl explain), and the checked-in manifests must match src/api.

import { describe, expect, it } from 'vitest';
import { customResourceDefinition, kinds, openApiSchema } from '../../src/api/kinds.ts';
import { staleCrdFiles } from '../../src/dev/crds.ts';

type Node = Record<string, unknown>;

const forbidden = [
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'const',
  'patternProperties',
  '$ref',
  '$id',
  'definitions',
  '$defs',
];

/** Walks a schema, returning "path: problem" for everything a structural schema may not have. */
function lint(node: Node, path: string, problems: string[], underSpecOrStatus: boolean): void {
  if (
    node['x-kubernetes-preserve-unknown-fields'] !== true &&
    node['type'] === undefined &&
    path !== '.metadata'
  ) {
    problems.push(`${path}: no type`);
  }
  for (const key of forbidden) if (key in node) problems.push(`${path}: uses ${key}`);
  if (node['additionalProperties'] === false)
    problems.push(`${path}: additionalProperties: false is forbidden`);
  if (node['additionalProperties'] !== undefined && node['properties'] !== undefined) {
    problems.push(`${path}: properties and additionalProperties together`);
  }
  if ('enum' in node && node['type'] !== 'string') problems.push(`${path}: enum on a non-string`);
  for (const rule of (node['x-kubernetes-validations'] as Node[] | undefined) ?? []) {
    if (typeof rule['rule'] !== 'string' || !rule['rule'])
      problems.push(`${path}: CEL rule without rule text`);
    if (typeof rule['message'] !== 'string' || String(rule['message']).length < 10) {
      problems.push(`${path}: CEL rule "${rule['rule']}" without a helpful message`);
    }
    if (node['type'] === 'string' && node['maxLength'] === undefined && node['enum'] === undefined) {
      problems.push(`${path}: string with a CEL rule needs maxLength (CEL cost budget)`);
    }
  }
  if (node['type'] === 'array') {
    if (!node['items']) problems.push(`${path}: array without items`);
    if (node['x-kubernetes-list-type'] === 'map' && !node['x-kubernetes-list-map-keys']) {
      problems.push(`${path}: list-type map without list-map-keys`);
    }
  }
  const properties = (node['properties'] as Record<string, Node> | undefined) ?? {};
  for (const [name, child] of Object.entries(properties)) {
    const childPath = `${path}.${name}`;
    const described = underSpecOrStatus || name === 'spec' || name === 'status';
    if (
      underSpecOrStatus &&
      typeof child['description'] !== 'string' &&
      !(child['type'] === 'object' || child['type'] === 'array')
    ) {
      problems.push(`${childPath}: no description (kubectl explain shows nothing)`);
    }
    lint(child, childPath, problems, described);
  }
  if (node['items']) lint(node['items'] as Node, `${path}[]`, problems, underSpecOrStatus);
  if (typeof node['additionalProperties'] === 'object') {
    lint(node['additionalProperties'] as Node, `${path}{}`, problems, false);
  }
}

describe('CRD schemas', () => {
  it.each(kinds.map((k) => [k.kind, k] as const))(
    '%s is structural and explains its fields',
    (_name, def) => {
      const problems: string[] = [];
      lint(openApiSchema(def), '', problems, false);
      expect(problems).toEqual([]);
    },
  );

  it('every kind is in the cmk category with a short name and a Ready column', () => {
    for (const def of kinds) {
      const crd = customResourceDefinition(def) as {
        spec: { names: { categories: string[]; shortNames: string[] } };
      };
      expect(crd.spec.names.categories).toContain('cmk');
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
      if (def.status) expect(def.columns.map((c) => c.name)).toContain('Ready');
    }
  });

  it('the checked-in manifests match src/api (run `npm run crds` after changing the API)', () => {
    expect(staleCrdFiles(process.cwd())).toEqual([]);
  });
});
