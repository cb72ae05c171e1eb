// Key-policy analysis: a pure evaluator that answers whether a KMS key policy lets one principal make
// one request, read from the policy document itself (GetKeyPolicy). It exists because a direct DryRun
// cannot answer this for the workload services: their key-policy statements are conditioned on
// `kms:ViaService` or name service principals, which a call from the operator never matches
// (KMS-015, TRAP-17).
//
// Contract:
// - `evaluateKeyPolicy` never throws. A document it cannot read answers 'unparseable' naming what is
//   wrong (the caller must then fail closed: safety invariant 1).
// - Verdicts: 'denied-explicitly' (a matching Deny, which wins over everything), 'allowed' (an Allow
//   names the principal, or `*`), 'allowed-if-iam-allows' (only an account principal —
//   `arn:aws:iam::<acct>:root` or the bare account id — allows it, which delegates to the caller's IAM
//   policies; or the caller is from another account than the key, which always needs IAM too),
//   'not-allowed' (no Allow applies; `reason` says which statement came closest and why it missed).
// - IAM policies, SCPs, grants and permission boundaries are out of reach here: 'allowed-if-iam-allows'
//   is as far as the key policy can speak.
// - Rules: Principal / NotPrincipal, Action / NotAction (case-insensitive, `*` and `?`), Resource /
//   NotResource (an absent Resource counts as `*`), Condition with String*, Arn*, Numeric*, Date*,
//   Bool, Null, IpAddress / NotIpAddress, `ForAllValues:` / `ForAnyValue:` and `...IfExists`; values
//   within one key are OR'ed, keys and operators AND'ed. A key absent from the request fails a positive
//   operator and satisfies a negated one, `...IfExists` and `ForAllValues:`, as IAM documents.
//   Condition key names are case-insensitive except the `<key>` of `kms:EncryptionContext:<key>`
//   (the stricter reading). `${aws:PrincipalArn}`-style variables are substituted in 2012-10-17
//   policies.
// - An assumed-role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) matches a policy
//   naming its role with any path (`arn:aws:iam::<acct>:role/<path/><role>`): role names are unique in
//   an account, and key policies name roles, not sessions.
// - NotPrincipal matches by exact identity only (the account ARN in NotPrincipal excludes only the
//   account root), following IAM's NotPrincipal documentation.

export type RequestPrincipal =
  | { type: 'service'; name: string }
  | { type: 'aws'; arn: string; accountId: string };

export type ContextValue = string | string[] | boolean | number;

export interface KeyPolicyRequest {
  principal: RequestPrincipal;
  /** `kms:Decrypt` etc. */
  action: string;
  /** The key's ARN: matched against Resource, and tells a caller from another account. */
  keyArn?: string;
  context: Record<string, ContextValue>;
}

export type KeyPolicyVerdict =
  | { verdict: 'allowed'; statement: string }
  | { verdict: 'allowed-if-iam-allows'; statement: string; why: 'account-principal' | 'other-account' }
  | { verdict: 'denied-explicitly'; statement: string }
  | { verdict: 'not-allowed'; reason: string }
  | { verdict: 'unparseable'; problem: string };

// ---- Parsing ----------------------------------------------------------------------------------------

type BaseOperator =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'ArnEquals'
  | 'ArnNotEquals'
  | 'ArnLike'
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
  | 'Null'
  | 'IpAddress'
  | 'NotIpAddress';

const baseOperators: ReadonlySet<string> = new Set<BaseOperator>([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
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
  'IpAddress',
  'NotIpAddress',
]);

/** Negated operators: satisfied when no policy value matches, and by an absent key. */
const negatedOperators: ReadonlySet<string> = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
  'NumericNotEquals',
  'DateNotEquals',
  'NotIpAddress',
]);

export interface ParsedConditionOperator {
  base: BaseOperator;
  set?: 'ForAllValues' | 'ForAnyValue';
  ifExists: boolean;
}

interface Condition {
  /** As written, for messages. */
  operator: string;
  op: ParsedConditionOperator;
  key: string;
  values: string[];
}

interface PrincipalBlock {
  any: boolean;
  aws: string[];
  service: string[];
}

export interface ParsedStatement {
  /** The Sid, or `#<n>` (1-based) when the statement has none. */
  name: string;
  effect: 'Allow' | 'Deny';
  principal: { not: boolean; block: PrincipalBlock };
  action: { not: boolean; patterns: string[] };
  resource: { not: boolean; patterns: string[] };
  conditions: Condition[];
}

export interface ParsedKeyPolicy {
  /** Policy variables are substituted only in 2012-10-17 documents, as IAM does. */
  variables: boolean;
  statements: ParsedStatement[];
}

export type ParseResult = { ok: true; policy: ParsedKeyPolicy } | { ok: false; problem: string };

/** Splits `ForAnyValue:StringLikeIfExists` into its parts; undefined for an unknown operator. */
export function parseConditionOperator(operator: string): ParsedConditionOperator | undefined {
  let rest = operator;
  let set: ParsedConditionOperator['set'];
  for (const prefix of ['ForAllValues', 'ForAnyValue'] as const) {
    if (rest.startsWith(`${prefix}:`)) {
      set = prefix;
      rest = rest.slice(prefix.length + 1);
      break;
    }
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!baseOperators.has(rest)) return undefined;
  // Null asks "is the key there?": neither a set prefix nor IfExists means anything with it.
  if (rest === 'Null' && (ifExists || set)) return undefined;
  return { base: rest as BaseOperator, ...(set ? { set } : {}), ifExists };
}

class Unparseable extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function stringList(v: unknown, where: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new Unparseable(`${where} is an empty list`);
  for (const x of list)
    if (typeof x !== 'string') throw new Unparseable(`${where} must be a string or a list of strings`);
  return list as string[];
}

/** Exactly one of `name` and `Not<name>`; `fallback` when both are absent (undefined: required). */
function oneOf(
  st: Record<string, unknown>,
  name: string,
  where: string,
  fallback?: string[],
): { not: boolean; value: unknown } {
  const has = st[name] !== undefined;
  const hasNot = st[`Not${name}`] !== undefined;
  if (has && hasNot) throw new Unparseable(`${where} has both ${name} and Not${name}`);
  if (!has && !hasNot) {
    if (fallback) return { not: false, value: fallback };
    throw new Unparseable(`${where} has neither ${name} nor Not${name}`);
  }
  return has ? { not: false, value: st[name] } : { not: true, value: st[`Not${name}`] };
}

function parsePrincipal(value: unknown, where: string): PrincipalBlock {
  if (value === '*') return { any: true, aws: [], service: [] };
  if (!isRecord(value)) throw new Unparseable(`${where}: Principal must be "*" or an object`);
  const block: PrincipalBlock = { any: false, aws: [], service: [] };
  for (const [kind, v] of Object.entries(value)) {
    const values = stringList(v, `${where}: Principal.${kind}`);
    if (kind === 'AWS') {
      block.aws.push(...values);
      if (values.includes('*')) block.any = true;
    } else if (kind === 'Service') block.service.push(...values.map((s) => s.toLowerCase()));
    // Federated and CanonicalUser principals never make KMS calls for these services: valid, inert.
    else if (kind !== 'Federated' && kind !== 'CanonicalUser')
      throw new Unparseable(`${where}: unknown principal type '${kind}'`);
  }
  return block;
}

function parseConditions(value: unknown, where: string): Condition[] {
  if (value === undefined) return [];
  if (!isRecord(value)) throw new Unparseable(`${where}: Condition must be an object`);
  const out: Condition[] = [];
  for (const [operator, block] of Object.entries(value)) {
    const op = parseConditionOperator(operator);
    if (!op) throw new Unparseable(`${where}: unsupported condition operator '${operator}'`);
    if (!isRecord(block)) throw new Unparseable(`${where}: condition ${operator} must map keys to values`);
    for (const [key, raw] of Object.entries(block)) {
      const list = Array.isArray(raw) ? raw : [raw];
      // An empty list is read literally: no value to match (a positive operator never holds).
      if (!list.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean'))
        throw new Unparseable(`${where}: condition ${operator} ${key} values must be strings`);
      out.push({ operator, op, key, values: list.map(String) });
    }
  }
  return out;
}

function parseStatement(raw: unknown, index: number): ParsedStatement {
  const fallbackName = `#${index + 1}`;
  if (!isRecord(raw)) throw new Unparseable(`statement ${fallbackName} is not an object`);
  const sid = typeof raw['Sid'] === 'string' && raw['Sid'] !== '' ? raw['Sid'] : undefined;
  const name = sid ?? fallbackName;
  const where = `statement ${sid ? `"${sid}"` : fallbackName}`;
  const effect = raw['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny')
    throw new Unparseable(`${where}: Effect must be "Allow" or "Deny", not ${JSON.stringify(effect)}`);
  const principal = oneOf(raw, 'Principal', where);
  const action = oneOf(raw, 'Action', where);
  // KMS requires Resource; a document without one is read as applying to this key.
  const resource = oneOf(raw, 'Resource', where, ['*']);
  return {
    name,
    effect,
    principal: { not: principal.not, block: parsePrincipal(principal.value, where) },
    action: { not: action.not, patterns: stringList(action.value, `${where}: Action`) },
    resource: { not: resource.not, patterns: stringList(resource.value, `${where}: Resource`) },
    conditions: parseConditions(raw['Condition'], where),
  };
}

/** Reads a key policy (JSON text or an already parsed object); never throws. */
export function parseKeyPolicy(document: unknown): ParseResult {
  try {
    let doc = document;
    if (typeof doc === 'string') {
      try {
        doc = JSON.parse(doc);
      } catch (e) {
        return { ok: false, problem: `the key policy is not valid JSON (${(e as Error).message})` };
      }
    }
    if (!isRecord(doc)) return { ok: false, problem: 'the key policy is not a JSON object' };
    const raw = doc['Statement'];
    if (raw === undefined) return { ok: false, problem: 'the key policy has no Statement' };
    const list = Array.isArray(raw) ? raw : [raw];
    return {
      ok: true,
      policy: { variables: doc['Version'] === '2012-10-17', statements: list.map(parseStatement) },
    };
  } catch (e) {
    if (e instanceof Unparseable) return { ok: false, problem: e.message };
    return { ok: false, problem: `the key policy could not be read (${String(e)})` };
  }
}

/** A policy variable in a condition value, `${aws:SourceArn}`: its name is the first group. */
const policyVariable = /\$\{([^}]+)\}/g;

/**
 * The request context keys a parsed policy reads, lowercased: the key of every condition, and in a
 * document that substitutes policy variables (2012-10-17) every `${...}` named in a condition value.
 * Pure. What the policy does not read cannot change its verdict.
 */
export function contextKeysRead(policy: ParsedKeyPolicy): Set<string> {
  const keys = new Set<string>();
  for (const st of policy.statements)
    for (const c of st.conditions) {
      keys.add(c.key.toLowerCase());
      if (!policy.variables) continue;
      for (const v of c.values) for (const m of v.matchAll(policyVariable)) keys.add(m[1]!.toLowerCase());
    }
  return keys;
}

// ---- Matching ---------------------------------------------------------------------------------------

const patternCache = new Map<string, RegExp>();

/** IAM wildcard match: `*` any run of characters, `?` exactly one. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  if (pattern === '*') return true;
  const cacheKey = `${ignoreCase ? 'i' : 's'}:${pattern}`;
  let re = patternCache.get(cacheKey);
  if (!re) {
    let source = '^';
    for (const c of pattern)
      source += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    re = new RegExp(`${source}$`, ignoreCase ? 'is' : 's');
    // Policies are few and small; the cap only guards against a fuzzer's endless supply.
    if (patternCache.size > 2000) patternCache.clear();
    patternCache.set(cacheKey, re);
  }
  return re.test(value);
}

/** ArnLike / ArnEquals: the six colon-separated parts compared one by one, each with wildcards. */
function arnMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const split = (s: string) => {
    const parts = s.split(':');
    return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const p = split(pattern);
  const v = split(value);
  if (!p || !v) return false;
  return p.every((segment, i) => wildcardMatch(segment, v[i]!));
}

function parseDate(s: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

/** An IPv4 or IPv6 address as a bigint plus its width in bits; undefined when it is not one. */
function ipValue(text: string): { value: bigint; bits: number } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n), bits: 32 };
  }
  if (!/^[0-9a-fA-F:]+$/.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (all.some((g) => g.length === 0 || g.length > 4)) return undefined;
  return { value: all.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n), bits: 128 };
}

function ipInRange(range: string, address: string): boolean {
  const [base, prefixText] = range.split('/');
  const net = ipValue(base ?? '');
  const ip = ipValue(address);
  if (!net || !ip || net.bits !== ip.bits) return false;
  const prefix = prefixText === undefined ? net.bits : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > net.bits) return false;
  const shift = BigInt(net.bits - prefix);
  return net.value >> shift === ip.value >> shift;
}

/** Does one request value match one policy value? (The positive sense of every operator.) */
function valueMatches(base: BaseOperator, policyValue: string, requestValue: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return policyValue === requestValue;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return policyValue.toLowerCase() === requestValue.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return wildcardMatch(policyValue, requestValue);
    case 'ArnEquals':
    case 'ArnNotEquals':
    case 'ArnLike':
    case 'ArnNotLike':
      return arnMatch(policyValue, requestValue);
    case 'Bool':
      return policyValue.toLowerCase() === requestValue.toLowerCase();
    case 'IpAddress':
    case 'NotIpAddress':
      return ipInRange(policyValue, requestValue);
    case 'Null':
      return false;
    default: {
      const numeric = base.startsWith('Numeric');
      const a = numeric ? Number(requestValue) : parseDate(requestValue);
      const b = numeric ? Number(policyValue) : parseDate(policyValue);
      if (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b)) return false;
      switch (base.replace(/^(Numeric|Date)/, '')) {
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

const encryptionContextPrefix = 'kms:encryptioncontext:';

/** A condition key's values in the request, or undefined when absent (see the header on case). */
function contextValues(context: Record<string, ContextValue>, key: string): string[] | undefined {
  const lower = key.toLowerCase();
  const ecKey = lower.startsWith(encryptionContextPrefix)
    ? key.slice(encryptionContextPrefix.length)
    : undefined;
  for (const [k, v] of Object.entries(context)) {
    const kl = k.toLowerCase();
    const same =
      ecKey === undefined
        ? kl === lower
        : kl.startsWith(encryptionContextPrefix) && k.slice(encryptionContextPrefix.length) === ecKey;
    if (same) return Array.isArray(v) ? v.map(String) : [String(v)];
  }
  return undefined;
}

function substitute(value: string, context: Record<string, ContextValue>): string {
  if (!value.includes('${')) return value;
  return value.replace(policyVariable, (whole, name: string) => {
    if (name === '*' || name === '?' || name === '$') return name;
    const v = contextValues(context, name);
    return v && v.length === 1 ? v[0]! : whole;
  });
}

function conditionHolds(c: Condition, context: Record<string, ContextValue>, variables: boolean): boolean {
  const wanted = variables ? c.values.map((v) => substitute(v, context)) : c.values;
  const present = contextValues(context, c.key);
  const absent = present === undefined || present.length === 0;
  if (c.op.base === 'Null') return wanted.some((w) => (w.toLowerCase() === 'true' ? absent : !absent));
  const negated = negatedOperators.has(c.op.base);
  if (absent) {
    if (c.op.set === 'ForAllValues') return true;
    if (c.op.set === 'ForAnyValue') return false;
    return c.op.ifExists || negated;
  }
  // A request value satisfies a positive operator when it matches one of the policy values (values
  // are OR'ed), and a negated one when it matches none.
  const satisfies = (rv: string) => wanted.some((w) => valueMatches(c.op.base, w, rv)) !== negated;
  if (c.op.set === 'ForAllValues') return present.every(satisfies);
  if (c.op.set === 'ForAnyValue') return present.some(satisfies);
  // Without a set prefix a multi-valued key is "any value matches" for positive operators and
  // "no value matches" for negated ones.
  return negated ? present.every(satisfies) : present.some(satisfies);
}

function describeCondition(c: Condition, context: Record<string, ContextValue>): string {
  const have = contextValues(context, c.key);
  const values = c.values.length === 1 ? JSON.stringify(c.values[0]) : JSON.stringify(c.values);
  return `condition ${c.operator} ${c.key} ${values} does not hold (request: ${have === undefined ? 'absent' : JSON.stringify(have.length === 1 ? have[0] : have)})`;
}

const accountPrincipal = /^arn:aws[a-z-]*:iam::(\d{12}):root$/;
const sessionArn = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/;
const roleArn = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/** The IAM role an assumed-role session belongs to (name and account), when it is one. */
function sessionRole(arn: string): { partition: string; accountId: string; name: string } | undefined {
  const m = sessionArn.exec(arn);
  return m ? { partition: m[1]!, accountId: m[2]!, name: m[3]! } : undefined;
}

/** `arn:aws:sts::1:assumed-role/r/s` -> `arn:aws:iam::1:role/r` (the path, if any, is not in the session ARN). */
export function roleArnOfSession(arn: string): string | undefined {
  const r = sessionRole(arn);
  return r ? `arn:${r.partition}:iam::${r.accountId}:role/${r.name}` : undefined;
}

/** Does a policy principal value name this IAM principal itself (not via its account)? */
function namesIdentity(value: string, principal: { arn: string; accountId: string }): boolean {
  if (value === principal.arn) return true;
  const role = sessionRole(principal.arn);
  if (role) {
    const m = roleArn.exec(value);
    if (m && m[2] === role.accountId && m[3] === role.name) return true;
  }
  return false;
}

function accountOf(value: string): string | undefined {
  if (/^\d{12}$/.test(value)) return value;
  return accountPrincipal.exec(value)?.[1];
}

/**
 * How a Principal block matches: 'direct' (named, `*`, or the account root itself), 'account' (an
 * account principal of the caller's account, which delegates to IAM) or undefined.
 */
function principalMatch(block: PrincipalBlock, p: RequestPrincipal): 'direct' | 'account' | undefined {
  if (block.any) return 'direct';
  if (p.type === 'service') return block.service.includes(p.name.toLowerCase()) ? 'direct' : undefined;
  let how: 'account' | undefined;
  for (const v of block.aws) {
    if (namesIdentity(v, p)) return 'direct';
    if (accountOf(v) === p.accountId) {
      if (accountPrincipal.test(p.arn) && accountOf(p.arn) === p.accountId) return 'direct';
      how = 'account';
    }
  }
  return how;
}

/** NotPrincipal: exact identities only (see the header). */
function notPrincipalExcludes(block: PrincipalBlock, p: RequestPrincipal): boolean {
  if (block.any) return true;
  if (p.type === 'service') return block.service.includes(p.name.toLowerCase());
  return block.aws.some((v) => namesIdentity(v, p));
}

function actionMatches(st: ParsedStatement, action: string): boolean {
  const hit = st.action.patterns.some((p) => wildcardMatch(p, action, true));
  return st.action.not ? !hit : hit;
}

function resourceMatches(st: ParsedStatement, keyArn: string | undefined): boolean {
  // Without the key ARN only `*` is certain to cover the key: an Allow then needs `*`, while a Deny
  // is assumed to apply (the cautious reading both ways).
  if (keyArn === undefined) {
    const star = st.resource.patterns.includes('*');
    if (st.effect === 'Deny') return !(st.resource.not && star);
    return st.resource.not ? false : star;
  }
  const hit = st.resource.patterns.some((p) => wildcardMatch(p, keyArn));
  return st.resource.not ? !hit : hit;
}

function who(p: RequestPrincipal): string {
  return p.type === 'service' ? `service principal ${p.name}` : p.arn;
}

/** Evaluates an already parsed key policy for one request. */
export function evaluateParsedKeyPolicy(
  policy: ParsedKeyPolicy,
  request: KeyPolicyRequest,
): KeyPolicyVerdict {
  const { principal, action, keyArn } = request;
  const context = normaliseContext(request.context);
  const keyAccount = keyArn?.split(':')[4];
  const otherAccount =
    principal.type === 'aws' && keyAccount !== undefined && keyAccount !== principal.accountId;
  let direct: string | undefined;
  let delegated: string | undefined;
  let nearMiss: string | undefined;
  for (const st of policy.statements) {
    if (!actionMatches(st, action) || !resourceMatches(st, keyArn)) continue;
    const how = st.principal.not
      ? notPrincipalExcludes(st.principal.block, principal)
        ? undefined
        : 'direct'
      : principalMatch(st.principal.block, principal);
    if (!how) continue;
    const failed = st.conditions.find((c) => !conditionHolds(c, context, policy.variables));
    if (st.effect === 'Deny') {
      // An account principal in a Deny covers everyone in the account: no delegation to undo it.
      if (!failed) return { verdict: 'denied-explicitly', statement: st.name };
      continue;
    }
    if (failed) {
      nearMiss ??= `statement ${st.name} does not apply: ${describeCondition(failed, context)}`;
      continue;
    }
    if (how === 'direct') direct ??= st.name;
    else delegated ??= st.name;
  }
  if (direct !== undefined)
    return otherAccount
      ? { verdict: 'allowed-if-iam-allows', statement: direct, why: 'other-account' }
      : { verdict: 'allowed', statement: direct };
  if (delegated !== undefined)
    return { verdict: 'allowed-if-iam-allows', statement: delegated, why: 'account-principal' };
  return {
    verdict: 'not-allowed',
    reason: nearMiss ?? `no statement allows ${who(principal)} to perform ${action}`,
  };
}

/** Context values of any shape, kept as given; booleans and numbers compare as their text. */
function normaliseContext(context: unknown): Record<string, ContextValue> {
  if (!isRecord(context)) return {};
  const out: Record<string, ContextValue> = {};
  for (const [k, v] of Object.entries(context)) {
    if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.filter((x) => x !== null && x !== undefined).map(String);
  }
  return out;
}

/** Parses and evaluates a key policy for one request; never throws. */
export function evaluateKeyPolicy(policy: unknown, request: KeyPolicyRequest): KeyPolicyVerdict {
  const parsed = parseKeyPolicy(policy);
  if (!parsed.ok) return { verdict: 'unparseable', problem: parsed.problem };
  try {
    return evaluateParsedKeyPolicy(parsed.policy, request);
  } catch (e) {
    // Only a malformed request (not a policy) can get here; answer without throwing all the same.
    return { verdict: 'unparseable', problem: `the request could not be evaluated (${String(e)})` };
  }
}
