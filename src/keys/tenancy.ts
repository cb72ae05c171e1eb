// Tenancy rules from the operator's configuration: per namespace, which KMS keys its objects may use
// and which AWS resources its workloads may manage, as ARN patterns (`*` any run, `?` one character).
// A namespace without an entry falls back to the `*` entry when there is one, else is unrestricted.
// Pure: loading is the only I/O, done once at start-up.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface NamespaceRules {
  allowedKeyArnPatterns?: string[];
  allowedWorkloadArnPatterns?: string[];
}

export interface TenancyRules {
  namespaces: Record<string, NamespaceRules>;
}

export const noTenancyRules: TenancyRules = { namespaces: {} };

function matches(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(value);
}

function rulesFor(rules: TenancyRules, namespace: string): NamespaceRules | undefined {
  return rules.namespaces[namespace] ?? rules.namespaces['*'];
}

/** Undefined when allowed; otherwise the refusal message. */
export function keyRefusal(rules: TenancyRules, namespace: string, keyArn: string): string | undefined {
  const patterns = rulesFor(rules, namespace)?.allowedKeyArnPatterns;
  if (!patterns || patterns.some((p) => matches(p, keyArn))) return undefined;
  return `namespace ${namespace} may not use key ${keyArn}: the operator's tenancy rules allow only ${patterns.join(', ')}`;
}

/** Undefined when allowed; otherwise the refusal message. */
export function workloadRefusal(
  rules: TenancyRules,
  namespace: string,
  resourceArn: string,
): string | undefined {
  const patterns = rulesFor(rules, namespace)?.allowedWorkloadArnPatterns;
  if (!patterns || patterns.some((p) => matches(p, resourceArn))) return undefined;
  return `namespace ${namespace} may not manage ${resourceArn}: the operator's tenancy rules allow only ${patterns.join(', ')}`;
}

/** Parses and checks a tenancy file (YAML or JSON); throws naming the offending field. */
export function parseTenancyRules(text: string, source = 'tenancy config'): TenancyRules {
  const doc = parse(text) as unknown;
  if (doc === null || doc === undefined) return noTenancyRules;
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`${source}: expected a mapping with a "namespaces" key`);
  const namespaces = (doc as { namespaces?: unknown }).namespaces ?? {};
  if (typeof namespaces !== 'object' || namespaces === null || Array.isArray(namespaces)) {
    throw new Error(`${source}: "namespaces" must map namespace names to rules`);
  }
  const out: Record<string, NamespaceRules> = {};
  for (const [ns, raw] of Object.entries(namespaces as Record<string, unknown>)) {
    const r = (raw ?? {}) as Record<string, unknown>;
    const rules: NamespaceRules = {};
    for (const field of ['allowedKeyArnPatterns', 'allowedWorkloadArnPatterns'] as const) {
      const v = r[field];
      if (v === undefined) continue;
      if (!Array.isArray(v) || v.some((p) => typeof p !== 'string' || p === '')) {
        throw new Error(`${source}: namespaces.${ns}.${field} must be a list of ARN patterns`);
      }
      rules[field] = v as string[];
    }
    for (const k of Object.keys(r)) {
      if (k !== 'allowedKeyArnPatterns' && k !== 'allowedWorkloadArnPatterns') {
        throw new Error(
          `${source}: namespaces.${ns}.${k} is not a known field (allowedKeyArnPatterns, allowedWorkloadArnPatterns)`,
        );
      }
    }
    out[ns] = rules;
  }
  return { namespaces: out };
}

export function loadTenancyRules(path: string): TenancyRules {
  return parseTenancyRules(readFileSync(path, 'utf8'), path);
}
