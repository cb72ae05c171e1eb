// Key-policy evaluation, as pure functions. Given a parsed key policy and one request (who, which
// `kms:` action, on which key, with which condition-key context) `evaluateKeyPolicy` answers Allow,
// explicit Deny or implicit deny, and for a denial says which statement came closest and why it did
// not apply, so the emulator (and the operator's own pre-flight) can name the missing permission.
//
// Rules modelled (IAM policy evaluation restricted to a resource policy on one key):
// - an explicit Deny that matches wins over everything;
// - an Allow statement applies when its Principal, Action/NotAction, Resource/NotResource and every
//   Condition match;
// - a Principal naming an account (`arn:aws:iam::<acct>:root` or the bare id) matches every principal
//   of that account but only delegates: the principal's own IAM allowances (`iamAllow`) must also allow
//   the action. For Deny statements the account principal matches without delegation;
// - a caller from another account than the key always needs its IAM allowances too;
// - condition keys are case-insensitive except the `<context-key>` part of
//   `kms:EncryptionContext:<context-key>`, which is kept case-sensitive (the stricter reading);
// - operators: String*, Arn*, Numeric*, Date*, Bool, Null, with `ForAllValues:`/`ForAnyValue:` and
//   `...IfExists`; a key missing from the request fails a positive operator and satisfies a negated one
//   (`StringNotEquals`, `ArnNotLike`...), as IAM documents. Unknown operators are rejected when the
//   policy is parsed (MalformedPolicyDocumentException), so evaluation never meets one.

import { iamAllows } from './core/identity.ts';
import { grantOperations as keyspacesGrantOperations } from './services/keyspaces/rules.ts';

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: PolicyStatement[];
}

/** Who is asking: an IAM principal (user, role, session, account root) or an AWS service principal. */
export type RequestPrincipal =
  | {
      kind: 'aws';
      arn: string;
      accountId: string;
      /** Undefined = administrator (every IAM action allowed). */
      iamAllow?: readonly string[] | undefined;
      /** For an assumed-role session, the role it came from (key policies name roles, not sessions). */
      roleArn?: string | undefined;
    }
  | { kind: 'service'; service: string };

/** Condition-key values of one request. Multi-valued keys (kms:GrantOperations...) are arrays. */
export type RequestContext = Record<string, string | readonly string[]>;

export interface AuthRequest {
  principal: RequestPrincipal;
  /** `kms:Decrypt` etc. */
  action: string;
  /** The key ARN. */
  resource: string;
  context: RequestContext;
}

export interface Decision {
  effect: 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';
  /** The Sid (or `#<index>`) of the statement that decided, for Allow and ExplicitDeny. */
  statement?: string;
  /**
   * For an implicit deny: why the closest Allow statement did not apply (a failed condition, or the
   * caller's IAM allowances), or that no statement names this principal and action.
   */
  reason: string;
  /** For an implicit deny caused only by missing IAM allowances (the key policy delegates to IAM). */
  iamDenied?: boolean;
}

export class PolicyParseError extends Error {}

const setPrefixes = ['ForAllValues:', 'ForAnyValue:'] as const;

type BaseOperator =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'ArnEquals'
  | 'ArnLike'
  | 'ArnNotEquals'
  | 'ArnNotLike'
  | 'NumericEquals'
  | 'NumericNotEquals'
  | 'NumericLessThan'
  | 'NumericLessThanEquals'
  | 'NumericGreaterThan'
  | 'NumericGreaterThanEquals'
  | 'DateEquals'
  | 'DateNotEquals'
  | 'DateLessThan'
  | 'DateLessThanEquals'
  | 'DateGreaterThan'
  | 'DateGreaterThanEquals'
  | 'Bool'
  | 'Null';

const baseOperators: ReadonlySet<string> = new Set<BaseOperator>([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'Null',
]);

const negated: ReadonlySet<string> = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
  'NumericNotEquals',
  'DateNotEquals',
]);

export interface ParsedOperator {
  base: BaseOperator;
  set?: 'ForAllValues' | 'ForAnyValue';
  ifExists: boolean;
}

/** Splits `ForAnyValue:StringLikeIfExists` into its parts; undefined when the operator is unknown. */
export function parseOperator(operator: string): ParsedOperator | undefined {
  let rest = operator;
  let set: ParsedOperator['set'];
  for (const p of setPrefixes) {
    if (rest.startsWith(p)) {
      set = p.slice(0, -1) as ParsedOperator['set'];
      rest = rest.slice(p.length);
    }
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && rest !== 'IfExists') {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!baseOperators.has(rest)) return undefined;
  if (rest === 'Null' && (ifExists || set)) return undefined;
  return { base: rest as BaseOperator, ...(set ? { set } : {}), ifExists };
}

const arrayOf = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Parses and validates a key policy document; throws PolicyParseError with a message in the style of
 * KMS's MalformedPolicyDocumentException.
 */
export function parseKeyPolicy(text: string): PolicyDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new PolicyParseError('The new key policy is not valid JSON.');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new PolicyParseError('The new key policy must be a JSON object.');
  const d = doc as Record<string, unknown>;
  if (d['Version'] !== undefined && d['Version'] !== '2012-10-17' && d['Version'] !== '2008-10-17')
    throw new PolicyParseError(`Invalid policy version: ${String(d['Version'])}`);
  const raw = d['Statement'];
  if (raw === undefined) throw new PolicyParseError('The new key policy has no Statement.');
  const statements = Array.isArray(raw) ? raw : [raw];
  if (statements.length === 0) throw new PolicyParseError('The new key policy has no Statement.');
  for (const [i, s] of statements.entries()) validateStatement(s, i);
  return { ...(d as object), Statement: statements as PolicyStatement[] } as PolicyDocument;
}

function validateStatement(s: unknown, i: number): void {
  const where = `Statement ${i + 1}`;
  if (s === null || typeof s !== 'object' || Array.isArray(s))
    throw new PolicyParseError(`${where} is not an object.`);
  const st = s as Record<string, unknown>;
  if (st['Effect'] !== 'Allow' && st['Effect'] !== 'Deny')
    throw new PolicyParseError(`${where}: Effect must be Allow or Deny.`);
  if ((st['Action'] === undefined) === (st['NotAction'] === undefined))
    throw new PolicyParseError(`${where}: exactly one of Action or NotAction is required.`);
  if ((st['Principal'] === undefined) === (st['NotPrincipal'] === undefined))
    throw new PolicyParseError(
      `${where}: key policy statements need exactly one of Principal or NotPrincipal.`,
    );
  if ((st['Resource'] === undefined) === (st['NotResource'] === undefined))
    throw new PolicyParseError(`${where}: exactly one of Resource or NotResource is required.`);
  for (const m of ['Action', 'NotAction', 'Resource', 'NotResource'] as const) {
    const v = st[m];
    if (
      v !== undefined &&
      !(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))
    )
      throw new PolicyParseError(`${where}: ${m} must be a string or a list of strings.`);
  }
  for (const a of arrayOf(st['Action'] as string | string[] | undefined).concat(
    arrayOf(st['NotAction'] as string | string[] | undefined),
  )) {
    if (a !== '*' && !/^[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+$/.test(a))
      throw new PolicyParseError(`${where}: invalid action '${a}'.`);
  }
  validatePrincipal(st['Principal'] ?? st['NotPrincipal'], where);
  const cond = st['Condition'];
  if (cond !== undefined) {
    if (cond === null || typeof cond !== 'object' || Array.isArray(cond))
      throw new PolicyParseError(`${where}: Condition must be an object.`);
    for (const [op, block] of Object.entries(cond)) {
      if (!parseOperator(op)) throw new PolicyParseError(`${where}: unsupported condition operator '${op}'.`);
      if (block === null || typeof block !== 'object' || Array.isArray(block))
        throw new PolicyParseError(`${where}: condition ${op} must map keys to values.`);
      for (const [key, value] of Object.entries(block as Record<string, unknown>)) {
        const values = Array.isArray(value) ? value : [value];
        if (!values.every((x) => ['string', 'number', 'boolean'].includes(typeof x)))
          throw new PolicyParseError(`${where}: condition ${op} ${key} values must be strings.`);
      }
    }
  }
}

function validatePrincipal(p: unknown, where: string): void {
  if (p === '*') return;
  if (p === null || typeof p !== 'object' || Array.isArray(p))
    throw new PolicyParseError(`${where}: Principal must be "*" or an object.`);
  for (const [kind, value] of Object.entries(p as Record<string, unknown>)) {
    if (!['AWS', 'Service', 'Federated', 'CanonicalUser'].includes(kind))
      throw new PolicyParseError(`${where}: unknown principal type '${kind}'.`);
    for (const v of arrayOf(value as string | string[])) {
      if (typeof v !== 'string') throw new PolicyParseError(`${where}: principals must be strings.`);
      if (
        kind === 'AWS' &&
        v !== '*' &&
        !/^\d{12}$/.test(v) &&
        !/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+/.test(v)
      )
        throw new PolicyParseError(`${where}: invalid principal '${v}'.`);
    }
  }
}

const regexCache = new Map<string, RegExp>();

/** IAM wildcard match (`*`, `?`), compiled patterns cached (policies are re-evaluated on every call). */
export function likeMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const cacheKey = (ignoreCase ? 'i:' : 's:') + pattern;
  let re = regexCache.get(cacheKey);
  if (!re) {
    let source = '^';
    for (const c of pattern) {
      source += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    re = new RegExp(`${source}$`, ignoreCase ? 'is' : 's');
    if (regexCache.size > 5000) regexCache.clear();
    regexCache.set(cacheKey, re);
  }
  return re.test(value);
}

/** ArnLike/ArnEquals: the six colon-separated parts are compared one by one, each with wildcards. */
export function arnMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const split = (s: string) => {
    const parts = s.split(':');
    if (parts.length < 6) return undefined;
    return [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const p = split(pattern);
  const v = split(value);
  if (!p || !v) return false;
  return p.every((seg, i) => likeMatch(seg, v[i]!));
}

function parseDate(s: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

/** One request value against one policy value for a (non-negated) base operator. */
function matchOne(base: BaseOperator, policyValue: string, requestValue: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return policyValue === requestValue;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return policyValue.toLowerCase() === requestValue.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return likeMatch(policyValue, requestValue);
    case 'ArnEquals':
    case 'ArnLike':
    case 'ArnNotEquals':
    case 'ArnNotLike':
      return arnMatch(policyValue, requestValue);
    case 'Bool':
      return policyValue.toLowerCase() === requestValue.toLowerCase();
    case 'Null':
      return false;
    default: {
      const numeric = base.startsWith('Numeric');
      const a = numeric ? Number(requestValue) : parseDate(requestValue);
      const b = numeric ? Number(policyValue) : parseDate(policyValue);
      if (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b)) return false;
      const cmp = base.replace(/^(Numeric|Date)/, '');
      switch (cmp) {
        case 'Equals':
        case 'NotEquals':
          return a === b;
        case 'LessThan':
          return a < b;
        case 'LessThanEquals':
          return a <= b;
        case 'GreaterThan':
          return a > b;
        case 'GreaterThanEquals':
          return a >= b;
        default:
          return false;
      }
    }
  }
}

/** Looks a condition key up in the request context (case-insensitive name, see the header). */
export function contextValue(context: RequestContext, key: string): readonly string[] | undefined {
  const direct = context[key];
  if (direct !== undefined) return typeof direct === 'string' ? [direct] : direct;
  const ecPrefix = 'kms:encryptioncontext:';
  const lower = key.toLowerCase();
  for (const [k, v] of Object.entries(context)) {
    const kl = k.toLowerCase();
    const same = lower.startsWith(ecPrefix)
      ? kl.startsWith(ecPrefix) && k.slice(ecPrefix.length) === key.slice(ecPrefix.length)
      : kl === lower;
    if (same) return typeof v === 'string' ? [v] : v;
  }
  return undefined;
}

/** Substitutes `${aws:PrincipalArn}`-style policy variables from the request context. */
function substitute(value: string, context: RequestContext): string {
  if (!value.includes('${')) return value;
  return value.replace(/\$\{([^}]+)\}/g, (m, name: string) => {
    if (name === '*' || name === '?' || name === '$') return name;
    const v = contextValue(context, name);
    return v && v.length === 1 ? v[0]! : m;
  });
}

/**
 * Evaluates one condition operator on one condition key. `policyValues` is the value from the policy
 * (a string, number, boolean or list of them).
 */
export function evaluateCondition(
  operator: string,
  key: string,
  policyValues: unknown,
  context: RequestContext,
): boolean {
  const op = parseOperator(operator);
  if (!op) return false;
  const wanted = (Array.isArray(policyValues) ? policyValues : [policyValues]).map((x) =>
    substitute(String(x), context),
  );
  const present = contextValue(context, key);
  if (op.base === 'Null') {
    const absent = present === undefined || present.length === 0;
    return wanted.some((w) => (w.toLowerCase() === 'true' ? absent : !absent));
  }
  const isNegated = negated.has(op.base);
  // A value satisfies the operator when it matches one of the policy values (positive operators) or
  // none of them (negated operators).
  const satisfies = (rv: string) => {
    const hit = wanted.some((w) => matchOne(op.base, w, rv));
    return isNegated ? !hit : hit;
  };
  if (present === undefined || present.length === 0) {
    if (op.set === 'ForAllValues') return true;
    if (op.set === 'ForAnyValue') return false;
    if (op.ifExists) return true;
    return isNegated;
  }
  if (op.set === 'ForAllValues') return present.every(satisfies);
  if (op.set === 'ForAnyValue') return present.some(satisfies);
  // Without a set prefix a multi-valued key behaves as "any value matches" for positive operators and
  // "no value matches" for negated ones.
  return isNegated ? present.every(satisfies) : present.some(satisfies);
}

/** The first condition of a statement that fails, described for a human; undefined when all hold. */
export function failedCondition(
  condition: PolicyStatement['Condition'],
  context: RequestContext,
): string | undefined {
  for (const [operator, block] of Object.entries(condition ?? {})) {
    for (const [key, value] of Object.entries(block)) {
      if (!evaluateCondition(operator, key, value, context)) {
        const have = contextValue(context, key);
        const haveText = have === undefined ? 'absent from the request' : JSON.stringify(have);
        return `condition ${operator} ${key} ${JSON.stringify(value)} (request value: ${haveText})`;
      }
    }
  }
  return undefined;
}

export function actionMatches(patterns: string | string[] | undefined, action: string): boolean {
  return arrayOf(patterns).some((p) => likeMatch(p, action, true));
}

function resourceMatches(st: PolicyStatement, resource: string): boolean {
  if (st.Resource !== undefined) return arrayOf(st.Resource).some((r) => likeMatch(r, resource));
  return !arrayOf(st.NotResource).some((r) => likeMatch(r, resource));
}

function statementActionMatches(st: PolicyStatement, action: string): boolean {
  if (st.Action !== undefined) return actionMatches(st.Action, action);
  return !actionMatches(st.NotAction, action);
}

const accountRoot = /^arn:aws[a-z-]*:iam::(\d{12}):root$/;

/**
 * How a principal block matches the request principal: 'direct' (named, or `*`), 'account' (an
 * account principal that delegates to IAM) or undefined.
 */
export function principalMatch(
  block: unknown,
  principal: RequestPrincipal,
): 'direct' | 'account' | undefined {
  if (block === '*') return 'direct';
  if (block === null || typeof block !== 'object') return undefined;
  const b = block as Record<string, string | string[]>;
  if (principal.kind === 'service') {
    return arrayOf(b['Service']).some((s) => s === '*' || s === principal.service) ||
      arrayOf(b['AWS']).includes('*')
      ? 'direct'
      : undefined;
  }
  let result: 'direct' | 'account' | undefined;
  for (const v of arrayOf(b['AWS'])) {
    if (v === '*' || v === principal.arn || (principal.roleArn !== undefined && v === principal.roleArn))
      return 'direct';
    const root = accountRoot.exec(v);
    const account = root ? root[1] : /^\d{12}$/.test(v) ? v : undefined;
    if (account === principal.accountId) {
      // The account root itself is named directly by its own ARN; everyone else is delegated to IAM.
      if (principal.arn === `arn:aws:iam::${account}:root`) return 'direct';
      result = 'account';
    }
  }
  return result;
}

function statementName(st: PolicyStatement, i: number): string {
  return st.Sid ? `"${st.Sid}"` : `#${i + 1}`;
}

function describePrincipal(p: RequestPrincipal): string {
  return p.kind === 'service' ? `service principal ${p.service}` : p.arn;
}

/** Evaluates a key policy for one request. */
export function evaluateKeyPolicy(policy: PolicyDocument, request: AuthRequest): Decision {
  const { principal, action, resource, context } = request;
  const keyAccount = resource.split(':')[4];
  const crossAccount =
    principal.kind === 'aws' && keyAccount !== undefined && principal.accountId !== keyAccount;
  const iamOk = principal.kind === 'service' || iamAllows(principal.iamAllow, action);

  let allow: string | undefined;
  let nearMiss: string | undefined;
  let iamDenied = false;
  for (const [i, st] of policy.Statement.entries()) {
    if (!statementActionMatches(st, action) || !resourceMatches(st, resource)) continue;
    let how: 'direct' | 'account' | undefined;
    if (st.Principal !== undefined) how = principalMatch(st.Principal, principal);
    else how = principalMatch(st.NotPrincipal, principal) ? undefined : 'direct';
    if (!how) continue;
    const failed = failedCondition(st.Condition, context);
    if (st.Effect === 'Deny') {
      if (!failed)
        return {
          effect: 'ExplicitDeny',
          statement: statementName(st, i),
          reason: `statement ${statementName(st, i)} explicitly denies ${action} to ${describePrincipal(principal)}`,
        };
      continue;
    }
    if (failed) {
      nearMiss ??= `statement ${statementName(st, i)} does not apply: ${failed}`;
      continue;
    }
    if ((how === 'account' || crossAccount) && !iamOk) {
      iamDenied = true;
      nearMiss ??= `statement ${statementName(st, i)} delegates to IAM, and the IAM policies of ${describePrincipal(principal)} do not allow ${action}`;
      continue;
    }
    allow ??= statementName(st, i);
  }
  if (allow !== undefined) {
    if (crossAccount && !iamOk)
      return {
        effect: 'ImplicitDeny',
        reason: `the IAM policies of ${describePrincipal(principal)} do not allow ${action}`,
        iamDenied: true,
      };
    return { effect: 'Allow', statement: allow, reason: `allowed by statement ${allow}` };
  }
  return {
    effect: 'ImplicitDeny',
    reason: nearMiss ?? `no statement allows ${describePrincipal(principal)} to perform ${action}`,
    ...(iamDenied && nearMiss?.includes('delegates to IAM') ? { iamDenied: true } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// What the workload services' own KMS calls need (MSF-007..010, KS-010..012, EMR-007). Each service is a list of
// "uses": a principal (the service principal itself, or the caller acting through the service with
// kms:ViaService) calling an action with the context the service would send.

export interface ServiceUse {
  principal: RequestPrincipal;
  action: string;
  context: RequestContext;
  /** How to say who this is in a message, e.g. `the caller via kinesisanalytics.us-east-1.amazonaws.com`. */
  who: string;
  /** The caller's IAM policy must allow the action too (MSF-010). */
  requireIam?: boolean;
}

export interface ServiceUseInput {
  service: 'kinesisanalytics' | 'cassandra' | 'emr-serverless';
  keyArn: string;
  caller: {
    arn: string;
    accountId: string;
    iamAllow?: readonly string[] | undefined;
    roleArn?: string | undefined;
  };
  region: string;
  accountId: string;
  sourceArn: string;
  encryptionContext: Record<string, string>;
}

function encryptionContextKeys(ec: Record<string, string>): RequestContext {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(ec)) out[`kms:EncryptionContext:${k}`] = v;
  out['kms:EncryptionContextKeys'] = Object.keys(ec);
  return out;
}

function callerContext(input: ServiceUseInput, viaService: string): RequestContext {
  return {
    'kms:ViaService': viaService,
    'kms:CallerAccount': input.caller.accountId,
    'aws:PrincipalArn': input.caller.roleArn ?? input.caller.arn,
    'aws:PrincipalAccount': input.caller.accountId,
  };
}

function grantContext(operations: string[], ec: Record<string, string>): RequestContext {
  return {
    ...encryptionContextKeys(ec),
    'kms:GrantOperations': operations,
    'kms:GrantConstraintType': 'EncryptionContextSubset',
    'kms:GrantIsForAWSResource': 'true',
  };
}

/** One principal calling each of `actions` with the same context. */
function usesOf(
  principal: RequestPrincipal,
  who: string,
  actions: readonly string[],
  context: RequestContext,
  requireIam?: true,
): ServiceUse[] {
  return actions.map((action) => ({
    principal,
    who,
    action,
    context,
    ...(requireIam ? { requireIam } : {}),
  }));
}

/** The KMS calls a workload service makes for a key, per the services' reference key policies (MSF-008, KS-010, EMR-007). */
export function serviceUses(input: ServiceUseInput): ServiceUse[] {
  const caller: RequestPrincipal = {
    kind: 'aws',
    arn: input.caller.arn,
    accountId: input.caller.accountId,
    iamAllow: input.caller.iamAllow,
    roleArn: input.caller.roleArn,
  };
  const source = { 'aws:SourceArn': input.sourceArn, 'aws:SourceAccount': input.accountId };
  const uses: ServiceUse[] = [];
  if (input.service === 'kinesisanalytics') {
    const via = `kinesisanalytics.${input.region}.amazonaws.com`;
    const ec = { 'aws:kinesisanalytics:arn': input.sourceArn, ...input.encryptionContext };
    const who = `the caller ${input.caller.arn} via ${via}`;
    const base = callerContext(input, via);
    uses.push(
      ...usesOf(caller, who, ['kms:DescribeKey'], base, true),
      ...usesOf(
        caller,
        who,
        ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'],
        { ...base, ...encryptionContextKeys(ec) },
        true,
      ),
      ...usesOf(caller, who, ['kms:CreateGrant'], { ...base, ...grantContext(['Decrypt'], ec) }, true),
    );
    const svc: RequestPrincipal = { kind: 'service', service: 'kinesisanalytics.amazonaws.com' };
    const svcWho = 'service principal kinesisanalytics.amazonaws.com';
    uses.push(
      ...usesOf(svc, svcWho, ['kms:DescribeKey'], source),
      ...usesOf(svc, svcWho, ['kms:GenerateDataKey', 'kms:Decrypt'], {
        ...source,
        ...encryptionContextKeys(ec),
      }),
    );
    const infra: RequestPrincipal = {
      kind: 'service',
      service: 'infrastructure.kinesisanalytics.amazonaws.com',
    };
    const infraWho = 'service principal infrastructure.kinesisanalytics.amazonaws.com';
    uses.push(
      ...usesOf(infra, infraWho, ['kms:DescribeKey'], source),
      ...usesOf(infra, infraWho, ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext'], {
        ...source,
        ...encryptionContextKeys(ec),
      }),
      ...usesOf(infra, infraWho, ['kms:CreateGrant'], { ...source, ...grantContext(['Decrypt'], ec) }),
    );
  } else if (input.service === 'cassandra') {
    // KS-011: Keyspaces needs the permission independent of Region, so the caller statement is checked
    // with this Region's endpoint and with another Region's: a Region-pinned kms:ViaService fails.
    const otherRegion = input.region === 'us-west-2' ? 'eu-west-1' : 'us-west-2';
    const ec = input.encryptionContext;
    const grantOps = keyspacesGrantOperations;
    for (const region of [input.region, otherRegion]) {
      const via = `cassandra.${region}.amazonaws.com`;
      const who = `the caller ${input.caller.arn} via ${via}`;
      const base = callerContext(input, via);
      for (const action of [
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
      ])
        uses.push({
          principal: caller,
          who,
          action,
          context: action === 'kms:DescribeKey' ? base : { ...base, ...encryptionContextKeys(ec) },
        });
      uses.push({
        principal: caller,
        who,
        action: 'kms:CreateGrant',
        context: { ...base, ...grantContext(grantOps, ec) },
      });
    }
  } else {
    const via = `emr-serverless.${input.region}.amazonaws.com`;
    const svc: RequestPrincipal = { kind: 'service', service: 'emr-serverless.amazonaws.com' };
    const svcWho = 'service principal emr-serverless.amazonaws.com';
    const who = `the caller ${input.caller.arn} via ${via}`;
    const ec = encryptionContextKeys(input.encryptionContext);
    uses.push(
      ...usesOf(svc, svcWho, ['kms:GenerateDataKey', 'kms:Decrypt'], { ...source, ...ec }),
      ...usesOf(caller, who, ['kms:DescribeKey'], callerContext(input, via)),
      // The submitting user also needs the data-key calls through EMR Serverless (EMR-007, EMR-006).
      ...usesOf(caller, who, ['kms:GenerateDataKey', 'kms:Decrypt'], { ...callerContext(input, via), ...ec }),
    );
  }
  return uses;
}

/**
 * Whether the key policy lets a workload service use the key; undefined when it does, otherwise a
 * message naming the principal, the action and the statement or condition that is missing.
 */
export function serviceUseDenied(policy: PolicyDocument, input: ServiceUseInput): string | undefined {
  for (const use of serviceUses(input)) {
    if (use.requireIam && use.principal.kind === 'aws' && !iamAllows(use.principal.iamAllow, use.action))
      return `The IAM policies of ${use.principal.arn} do not allow ${use.action} on ${input.keyArn}`;
    const d = evaluateKeyPolicy(policy, {
      principal: use.principal,
      action: use.action,
      resource: input.keyArn,
      context: use.context,
    });
    if (d.effect === 'Allow') continue;
    return `The key policy of ${input.keyArn} does not allow ${use.who} to perform ${use.action}: ${d.reason}`;
  }
  return undefined;
}
