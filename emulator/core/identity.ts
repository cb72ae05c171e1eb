// Who is calling. The emulator does not verify SigV4 signatures (it has no secrets to check them
// against); it reads the access key id, region and service from the credential scope of the
// Authorization header and maps the access key to a principal from the seed. Unknown access keys act
// as the account's administrator, so a plain SDK script with any credentials works.

export type PrincipalType = 'root' | 'user' | 'role' | 'assumed-role';

export interface Principal {
  arn: string;
  accountId: string;
  accessKeyId: string;
  type: PrincipalType;
  /**
   * What the principal's IAM policies allow, as IAM action patterns (`kms:*`, `kms:Decrypt`,
   * `kinesisanalytics:UpdateApplication`, `*`). Undefined means an administrator: everything.
   * Key policies that delegate to the account (`arn:aws:iam::<acct>:root`) defer to this list.
   */
  iamAllow?: string[];
  /** For assumed-role sessions: the role ARN that was assumed. */
  roleArn?: string;
  /** For assumed-role sessions: the session tags AssumeRole was given (IAM-006), as principal tags. */
  sessionTags?: Record<string, string>;
}

/**
 * What a role's trust policy demands of AssumeRole, as far as the emulator models it. Absent: trust
 * policies are not modelled for the role (any ExternalId, any session tags).
 */
export interface RoleTrust {
  /** The trust policy's `sts:ExternalId` condition: AssumeRole must present exactly this (IAM-005). */
  externalId?: string;
  /** The trust policy allows `sts:TagSession`; without it, an AssumeRole with tags is refused (IAM-006). */
  tagSession?: boolean;
  /**
   * `aws:RequestTag/<key>` conditions (StringLike patterns, any of the list): every named tag must be
   * sent with a matching value, so a role can serve one namespace only.
   */
  requestTags?: Record<string, string[]>;
}

export interface Role {
  arn: string;
  iamAllow?: string[];
  trust?: RoleTrust;
}

/** A role from the seed's `roles:` list: `{arn, iamAllow?, trust?: {externalId?, tagSession?, requestTags?}}`. */
export function parseRoleSeed(raw: Record<string, unknown>): Role {
  const arn = String(raw['arn'] ?? '');
  if (!arn) throw new Error('seed: each role needs an arn');
  const t = raw['trust'];
  if (t !== undefined && (t === null || typeof t !== 'object' || Array.isArray(t)))
    throw new Error(`seed: roles[${arn}].trust must be a mapping`);
  const trust = t as Record<string, unknown> | undefined;
  const tags = trust?.['requestTags'] as Record<string, unknown> | undefined;
  return {
    arn,
    ...(Array.isArray(raw['iamAllow']) ? { iamAllow: raw['iamAllow'].map(String) } : {}),
    ...(trust
      ? {
          trust: {
            ...(trust['externalId'] !== undefined ? { externalId: String(trust['externalId']) } : {}),
            ...(trust['tagSession'] !== undefined ? { tagSession: trust['tagSession'] === true } : {}),
            ...(tags
              ? {
                  requestTags: Object.fromEntries(
                    Object.entries(tags).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map(String)]),
                  ),
                }
              : {}),
          },
        }
      : {}),
  };
}

export interface SigV4Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

const credentialPattern = /Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/;

/** Reads the credential scope from an `Authorization: AWS4-HMAC-SHA256 Credential=...` header. */
export function parseSigV4Scope(authorization: string | undefined): SigV4Scope | undefined {
  if (!authorization) return undefined;
  const m = credentialPattern.exec(authorization);
  if (!m) return undefined;
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]! };
}

/** Whether an IAM action pattern list allows `action` (case-insensitive, `*` and `?` wildcards). */
export function iamAllows(patterns: readonly string[] | undefined, action: string): boolean {
  if (patterns === undefined) return true;
  return patterns.some((p) => wildcardMatch(p, action, true));
}

/** IAM-style wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    ignoreCase ? 'i' : '',
  );
  return re.test(value);
}

export interface IdentityStore {
  /** The principal for an access key id; unknown keys are the account administrator. */
  resolve(accessKeyId: string | undefined): Principal;
  add(principal: Principal): void;
  /** Roles that STS AssumeRole may assume, by role ARN, with their IAM allowances and trust. */
  roles: Map<string, Role>;
  all(): Principal[];
}

export function createIdentityStore(accountId: string): IdentityStore {
  const byKey = new Map<string, Principal>();
  const roles = new Map<string, Role>();
  return {
    resolve(accessKeyId) {
      const known = accessKeyId ? byKey.get(accessKeyId) : undefined;
      return (
        known ?? {
          arn: `arn:aws:iam::${accountId}:root`,
          accountId,
          accessKeyId: accessKeyId ?? 'anonymous',
          type: 'root',
        }
      );
    },
    add(principal) {
      byKey.set(principal.accessKeyId, principal);
    },
    roles,
    all: () => [...byKey.values()],
  };
}
