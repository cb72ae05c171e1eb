// Tenancy rules from the operator's configuration: per namespace, which KMS keys its objects may use,
// which AWS resources its workloads may manage and which IAM roles they may name in spec.roleArn, as
// ARN patterns (`*` any run, `?` one character); per role, how the operator assumes it (ExternalId,
// session tags). A namespace without an entry falls back to the `*` entry when there is one, else is
// unrestricted. Pure: loading is the only I/O, done once at start-up.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface NamespaceRules {
  allowedKeyArnPatterns?: string[];
  allowedWorkloadArnPatterns?: string[];
  /** Roles the namespace's objects may name in spec.roleArn; unset: any role. */
  allowedRoleArnPatterns?: string[];
}

/** How the operator assumes one role (IAM-005, IAM-006). */
export interface RoleRules {
  /**
   * Sent as AssumeRole's ExternalId. It lives here, in the operator's own configuration, and never
   * in an object's spec: the confused-deputy defence works only if a tenant cannot choose the value
   * the operator presents, or any namespace could name another tenant's role ARN and its ExternalId.
   */
  externalId?: string;
  /** Send the session tags (default true); false for a role whose trust policy lacks sts:TagSession. */
  sessionTags?: boolean;
}

export interface TenancyRules {
  namespaces: Record<string, NamespaceRules>;
  /** Per role ARN (exact). */
  roles?: Record<string, RoleRules>;
}

export const noTenancyRules: TenancyRules = { namespaces: {} };

const namespaceFields = [
  'allowedKeyArnPatterns',
  'allowedWorkloadArnPatterns',
  'allowedRoleArnPatterns',
] as const;
const roleArnPattern = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
// IAM-005: what AssumeRole accepts as ExternalId.
const externalIdPattern = /^[\w+=,.@:/-]{2,1224}$/;

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

/** Which entry of the file a namespace's rules come from, for messages that say what to edit. */
function entryOf(rules: TenancyRules, namespace: string): string {
  return rules.namespaces[namespace] ? namespace : '"*"';
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

/** Undefined when the namespace may have the operator assume `roleArn`; otherwise the refusal message. */
export function roleRefusal(rules: TenancyRules, namespace: string, roleArn: string): string | undefined {
  const patterns = rulesFor(rules, namespace)?.allowedRoleArnPatterns;
  if (!patterns || patterns.some((p) => matches(p, roleArn))) return undefined;
  const allowed = patterns.length > 0 ? `only ${patterns.join(', ')}` : 'no role';
  return (
    `namespace ${namespace} may not use role ${roleArn} (spec.roleArn): the operator's tenancy rules allow ${allowed}. ` +
    `Fix: set spec.roleArn to an allowed role (or remove it to use the operator's own identity), or ask the operator's admins to add the role to namespaces.${entryOf(rules, namespace)}.allowedRoleArnPatterns in --tenancy-config`
  );
}

/** How to assume `roleArn`: its configured ExternalId and whether to send session tags. */
export function assumeRoleRules(
  rules: TenancyRules | undefined,
  roleArn: string,
): Required<Pick<RoleRules, 'sessionTags'>> & Pick<RoleRules, 'externalId'> {
  const r = rules?.roles?.[roleArn];
  return { sessionTags: r?.sessionTags ?? true, ...(r?.externalId ? { externalId: r.externalId } : {}) };
}

const isPatternList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((p) => typeof p === 'string' && p !== '');

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseNamespaces(raw: unknown, source: string): Record<string, NamespaceRules> {
  if (!isMapping(raw)) throw new Error(`${source}: "namespaces" must map namespace names to rules`);
  const out: Record<string, NamespaceRules> = {};
  for (const [ns, entry] of Object.entries(raw)) {
    const r = (entry ?? {}) as Record<string, unknown>;
    const rules: NamespaceRules = {};
    for (const field of namespaceFields) {
      const v = r[field];
      if (v === undefined) continue;
      if (!isPatternList(v))
        throw new Error(`${source}: namespaces.${ns}.${field} must be a list of ARN patterns`);
      rules[field] = v;
    }
    for (const k of Object.keys(r)) {
      if (!(namespaceFields as readonly string[]).includes(k))
        throw new Error(
          `${source}: namespaces.${ns}.${k} is not a known field (${namespaceFields.join(', ')})`,
        );
    }
    out[ns] = rules;
  }
  return out;
}

function parseRoles(raw: unknown, source: string): Record<string, RoleRules> {
  if (!isMapping(raw))
    throw new Error(`${source}: "roles" must map role ARNs to how the operator assumes them`);
  const out: Record<string, RoleRules> = {};
  for (const [arn, entry] of Object.entries(raw)) {
    const where = `${source}: roles["${arn}"]`;
    if (!roleArnPattern.test(arn))
      throw new Error(`${where}: the key must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
    if (!isMapping(entry)) throw new Error(`${where} must be a mapping with externalId and/or sessionTags`);
    const rules: RoleRules = {};
    for (const [k, v] of Object.entries(entry)) {
      if (k === 'externalId') {
        if (typeof v !== 'string' || !externalIdPattern.test(v))
          throw new Error(
            `${where}.externalId must be 2 to 1224 characters of letters, digits and _+=,.@:/-`,
          );
        rules.externalId = v;
      } else if (k === 'sessionTags') {
        if (typeof v !== 'boolean') throw new Error(`${where}.sessionTags must be true or false`);
        rules.sessionTags = v;
      } else throw new Error(`${where}.${k} is not a known field (externalId, sessionTags)`);
    }
    out[arn] = rules;
  }
  return out;
}

/** Parses and checks a tenancy file (YAML or JSON); throws naming the offending field. */
export function parseTenancyRules(text: string, source = 'tenancy config'): TenancyRules {
  const doc = parse(text) as unknown;
  if (doc === null || doc === undefined) return noTenancyRules;
  if (!isMapping(doc)) throw new Error(`${source}: expected a mapping with a "namespaces" key`);
  for (const k of Object.keys(doc)) {
    if (k !== 'namespaces' && k !== 'roles')
      throw new Error(`${source}: ${k} is not a known field (namespaces, roles)`);
  }
  const namespaces = parseNamespaces(doc['namespaces'] ?? {}, source);
  return doc['roles'] === undefined
    ? { namespaces }
    : { namespaces, roles: parseRoles(doc['roles'], source) };
}

export function loadTenancyRules(path: string): TenancyRules {
  return parseTenancyRules(readFileSync(path, 'utf8'), path);
}
