// The KMS emulator (awsJson1_1, target `TrentService`): customer managed keys with their state machine,
// aliases, key policies (evaluated on every call by emulator/policy.ts), grants, automatic and
// on-demand rotation on the emulator clock, scheduled deletion, tags, and envelope "encryption" that
// ties a ciphertext to its key, key material and encryption context. It also implements `world.kms`,
// the only way the workload emulators (MSF, Keyspaces, EMR Serverless) reach KMS.
//
//   state.ts          the data model and store (keys, aliases, grants, material, listeners)
//   rules.ts          static facts, errors, state guards, rotation arithmetic, request members
//   authorization.ts  key policy, grants and IAM-only authorization; the lockout safety check
//   lifecycle.ts      rotation and scheduled deletion on the timeline
//   envelope.ts       the ciphertext envelope
//   operations.ts     the request handlers
//   access.ts         world.kms for the workload services
//   views.ts          response shapes
//   seed.ts           the `kms` seed section
//
// Seed section `kms` (the `kms` mapping of a seed document):
//   keys:
//     - keyId: 1234abcd-...          # optional, generated otherwise
//       alias: alias/app             # or aliases: [alias/a, alias/b]
//       description: text
//       keySpec: SYMMETRIC_DEFAULT   # RSA_2048, HMAC_256, ...
//       keyUsage: ENCRYPT_DECRYPT
//       origin: AWS_KMS              # EXTERNAL -> PendingImport
//       multiRegion: false
//       state: Enabled               # Enabled | Disabled | PendingDeletion (window: pendingWindowInDays, default 30)
//       policy: {...} or "json"      # default: the account-root "Enable IAM User Permissions" policy
//       rotation: { enabled: true, periodInDays: 365 }
//       tags: { team: data }         # or [{ TagKey, TagValue }]
//       region: us-east-1            # default config.defaultRegion
//       accountId: "111122223333"    # default config.accountId
//
// Choices where AWS is UNCONFIRMED (docs/aws-behaviour.md) — the stricter behaviour was picked:
// - management operations (rotation, deletion, Enable/DisableKey, policies, grants, tags, ListAliases
//   KeyId, CreateAlias TargetKeyId) given an alias name or alias ARN answer NotFoundException; only
//   DescribeKey and the cryptographic operations resolve aliases;
// - a key ARN of another Region answers NotFoundException; a key ARN of another account answers
//   NotFoundException except on the operations documented as cross-account (DescribeKey,
//   GetKeyRotationStatus, ListGrants, CreateGrant, RetireGrant, RevokeGrant and the cryptographic ones);
// - PendingWindowInDays outside 7-30 and RotationPeriodInDays outside 90-2560 are ValidationException;
// - cryptographic calls and CreateGrant on a PendingDeletion key answer KMSInvalidStateException (KMS-005);
// - an alias under the reserved `alias/aws/` prefix answers NotAuthorizedException; a name without the
//   `alias/` prefix answers ValidationException;
// - after an automatic rotation was missed while the key was Disabled or PendingDeletion, EnableKey
//   rotates at once and restarts the schedule from then (KMS-010: "a year" read as the rotation period);
// - changing the period of a key that already rotates moves NextRotationDate to the last automatic
//   rotation (or the enable date) plus the new period, and at the earliest to now;
// - EnableKeyRotation without RotationPeriodInDays sets the period back to 365;
// - CreateGrant with both EncryptionContextEquals and EncryptionContextSubset is a ValidationException;
// - AccessDeniedException and ValidationException are sent with HTTP 400;
// - the key-policy lockout safety check of CreateKey/PutKeyPolicy is enforced (MalformedPolicyDocument
//   unless BypassPolicyLockoutSafetyCheck), as AWS does.
// Not modelled: AWS managed keys (`alias/aws/...`), custom key stores, multi-Region replicas,
// ImportKeyMaterial, asymmetric signing/MAC operations, grant eventual consistency.

import type { ServiceRuntime } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { kmsAccess } from './access.ts';
import { createKeyLifecycle } from './lifecycle.ts';
import { kmsOperations } from './operations.ts';
import { seedKms } from './seed.ts';
import { createKmsStore } from './state.ts';
import { keyState } from './views.ts';

export { defaultKeyPolicy, grantOperations, requestPrincipal } from './rules.ts';

export function createKmsService(world: World): ServiceRuntime {
  const store = createKmsStore(world);
  const life = createKeyLifecycle(world, store);
  const operations = kmsOperations(world, store, life);
  world.kms = kmsAccess(world, store);
  return {
    name: 'kms',
    protocol: 'awsJson1_1',
    targetPrefix: 'TrentService',
    operations,
    seed: (section, w) => seedKms(store, life, section, w),
    snapshot: () => ({ keys: [...store.keys.values()].map(keyState) }),
  };
}
