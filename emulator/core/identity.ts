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
  /** Roles that STS AssumeRole may assume, by role ARN, with their IAM allowances. */
  roles: Map<string, { arn: string; iamAllow?: string[] }>;
  all(): Principal[];
}

export function createIdentityStore(accountId: string): IdentityStore {
  const byKey = new Map<string, Principal>();
  const roles = new Map<string, { arn: string; iamAllow?: string[] }>();
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
