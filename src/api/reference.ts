// The CRD reference (docs/api-reference.md), generated from the same schemas as the CRDs, so the
// documentation cannot drift from what the API server enforces. Pure: returns the markdown.

import { type KindDefinition, kinds, openApiSchema } from './kinds.ts';
import { apiVersion } from './shared.ts';

type Node = Record<string, unknown>;

function typeOf(node: Node): string {
  const t = node['type'];
  if (t === 'array') return `[]${typeOf((node['items'] as Node) ?? {})}`;
  if (t === 'object' && node['additionalProperties'] && typeof node['additionalProperties'] === 'object') {
    return `map[string]${typeOf(node['additionalProperties'] as Node)}`;
  }
  if (Array.isArray(node['enum'])) return `${String(t)} (${(node['enum'] as string[]).join(' \\| ')})`;
  return String(t ?? 'object');
}

function limits(node: Node): string[] {
  const out: string[] = [];
  if (node['default'] !== undefined) out.push(`default \`${JSON.stringify(node['default'])}\``);
  if (node['minLength'] !== undefined) out.push(`min length ${node['minLength']}`);
  if (node['maxLength'] !== undefined) out.push(`max length ${node['maxLength']}`);
  if (node['minItems'] !== undefined) out.push(`min items ${node['minItems']}`);
  if (node['maxItems'] !== undefined) out.push(`max items ${node['maxItems']}`);
  if (node['format'] !== undefined) out.push(`format ${node['format']}`);
  for (const r of (node['x-kubernetes-validations'] as Array<{ message: string }> | undefined) ?? []) {
    out.push(`rule: ${r.message}`);
  }
  return out;
}

function rows(node: Node, path: string, required: boolean, out: string[]): void {
  const description = String(node['description'] ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
  const notes = limits(node).map((l) => l.replace(/\|/g, '\\|'));
  if (path) {
    out.push(
      `| \`${path}\` | ${typeOf(node)} | ${required ? 'yes' : ''} | ${description}${notes.length ? `<br>${notes.join('; ')}` : ''} |`,
    );
  }
  const properties = (node['properties'] as Record<string, Node> | undefined) ?? {};
  const req = new Set((node['required'] as string[] | undefined) ?? []);
  for (const [name, child] of Object.entries(properties))
    rows(child, path ? `${path}.${name}` : name, req.has(name), out);
  const items = node['items'] as Node | undefined;
  if (items?.['properties']) rows({ ...items, description: undefined }, `${path}[]`, false, out);
}

function kindSection(def: KindDefinition): string {
  const schema = openApiSchema(def) as Node;
  const props = schema['properties'] as Record<string, Node>;
  const out: string[] = [
    `## ${def.kind}`,
    '',
    def.description,
    '',
    `\`kubectl get ${def.plural}\` (short name${def.shortNames.length > 1 ? 's' : ''} ${def.shortNames.map((s) => `\`${s}\``).join(', ')}; category \`cmk\`)`,
    '',
  ];
  for (const rule of (props['spec']?.['x-kubernetes-validations'] as
    | Array<{ message: string }>
    | undefined) ?? []) {
    out.push(`- spec rule: ${rule.message}`);
  }
  out.push('', '| Field | Type | Required | Description |', '| --- | --- | --- | --- |');
  rows(props['spec']!, 'spec', true, out);
  if (props['status']) rows(props['status'], 'status', false, out);
  out.push('', '| Column | JSONPath |', '| --- | --- |');
  for (const c of def.columns)
    out.push(`| ${c.name}${c.priority ? ' (wide)' : ''} | \`${c.jsonPath.replace(/\|/g, '\\|')}\` |`);
  return out.join('\n');
}

export function renderApiReference(): string {
  return [
    '<!-- Generated from src/api by `npm run crds`. Do not edit: change src/api and regenerate. -->',
    `# API reference: ${apiVersion}`,
    '',
    'Every kind, field, default, limit and validation rule, as the CRDs enforce them.',
    '',
    ...kinds.map(kindSection),
    '',
  ].join('\n');
}
