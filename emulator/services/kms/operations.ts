// KMS request handlers: validate the input (ValidationException naming the member), resolve the key
// the way each operation is documented to (KMS-001, KMS-002), authorize, apply the state rules and
// change the store. Cryptography is the envelope in envelope.ts.

import { randomBytes } from 'node:crypto';
import { AwsError, epochSeconds } from '../../core/protocol.ts';
import type { CallContext, JsonHandler, JsonObject } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import type { RequestContext } from '../../policy.ts';
import {
  authorize,
  authorizeIam,
  encryptionContextConditions,
  lockoutCheck,
  requestAliasContext,
} from './authorization.ts';
import { type Envelope, openEnvelope, seal, unseal } from './envelope.ts';
import type { KeyLifecycle } from './lifecycle.ts';
import {
  blobInput,
  callerNames,
  checkDryRun,
  checkSpecUsage,
  contextMap,
  err,
  grantNamePattern,
  grantOperations,
  keyIdInput,
  keySpecs,
  keyUsages,
  listInput,
  mergedTags,
  onDemandRotationProblem,
  origins,
  paginate,
  refuseReservedAlias,
  requireEncryptUsage,
  requireNotPendingDeletion,
  requireRotatable,
  requireTogglable,
  requireUsable,
  sameGrant,
  sameKeyType,
  stateAfterCancelledDeletion,
  v,
  validateAliasName,
  validateTags,
} from './rules.ts';
import { type Grant, type KeyRecord, type KmsStore, parsePolicyOrThrow, scopeOf } from './state.ts';
import { aliasEntry, grantEntry, metadata } from './views.ts';

interface KeyRefRules {
  /** KMS-001: DescribeKey and cryptographic operations accept alias names and alias ARNs. */
  aliases?: boolean;
  /** KMS-002: the operation is documented as usable on a key of another account (by ARN). */
  crossAccount?: boolean;
}

function encrypt(k: KeyRecord, plaintext: Buffer, ec: Record<string, string> | undefined): Buffer {
  return seal(k.arn, k.currentMaterialId, k.materials.get(k.currentMaterialId)!, plaintext, ec);
}

export function kmsOperations(
  world: World,
  store: KmsStore,
  life: KeyLifecycle,
): Record<string, JsonHandler> {
  function keyFor(ctx: CallContext, ref: string, rules: KeyRefRules = {}): KeyRecord {
    const found = store.lookup(ref, ctx.region, ctx.accountId);
    if (found.alias && !rules.aliases)
      throw err.notFound(`${ref} is an alias; this operation takes a key ID or key ARN`);
    if (found.error) throw found.error;
    const key = found.key!;
    if (key.accountId !== ctx.accountId && !rules.crossAccount)
      throw err.notFound(`Key '${key.arn}' does not exist in account ${ctx.accountId}`);
    return key;
  }

  /** The cryptographic calls: key policy or grant (with the request's context), then KMS-004 and usage. */
  function authorizeCrypto(
    ctx: CallContext,
    k: KeyRecord,
    op: string,
    input: JsonObject,
    ec: Record<string, string> | undefined,
    extra: RequestContext = {},
  ): void {
    authorize(
      ctx,
      k,
      op,
      { ...encryptionContextConditions(ec), ...requestAliasContext(input), ...extra },
      { ec },
    );
    requireUsable(k);
    requireEncryptUsage(k, op);
  }

  /** KMS-001, KMS-002: a management call's key (key id or ARN, own account), authorized for `op`. */
  function managedKey(ctx: CallContext, input: JsonObject, op: string): KeyRecord {
    const k = keyFor(ctx, keyIdInput(input));
    authorize(ctx, k, op);
    return k;
  }

  function cryptoKey(ctx: CallContext, input: JsonObject): KeyRecord {
    return keyFor(ctx, keyIdInput(input), { aliases: true, crossAccount: true });
  }

  function generateDataKey(ctx: CallContext, input: JsonObject, op: string) {
    const spec = v.optEnum(input, 'KeySpec', ['AES_256', 'AES_128'] as const);
    const bytes = v.optInt(input, 'NumberOfBytes', { min: 1, max: 1024 });
    if ((spec === undefined) === (bytes === undefined))
      v.fail('Please specify either number of bytes or key spec (exactly one of KeySpec and NumberOfBytes).');
    const ec = v.optStringMap(input, 'EncryptionContext');
    v.optStringList(input, 'GrantTokens');
    const k = cryptoKey(ctx, input);
    authorizeCrypto(ctx, k, op, input, ec);
    if (k.keySpec !== 'SYMMETRIC_DEFAULT')
      throw err.keyUsage(`${k.arn} is not a symmetric encryption key; ${op} needs one.`);
    checkDryRun(input);
    const plaintext = randomBytes(bytes ?? (spec === 'AES_128' ? 16 : 32));
    return {
      plaintext,
      out: {
        KeyId: k.arn,
        CiphertextBlob: encrypt(k, plaintext, ec).toString('base64'),
        KeyMaterialId: k.currentMaterialId,
      } as JsonObject,
    };
  }

  return {
    CreateKey(ctx, input) {
      authorizeIam(ctx, 'CreateKey');
      const description = v.optStr(input, 'Description', { max: 8192 });
      const keySpec =
        v.optEnum(input, 'KeySpec', Object.keys(keySpecs)) ??
        v.optEnum(input, 'CustomerMasterKeySpec', Object.keys(keySpecs)) ??
        'SYMMETRIC_DEFAULT';
      const keyUsage = v.optEnum(input, 'KeyUsage', keyUsages) ?? 'ENCRYPT_DECRYPT';
      const origin = v.optEnum(input, 'Origin', origins) ?? 'AWS_KMS';
      const policyText = v.optStr(input, 'Policy', { min: 1, max: 32768 });
      const bypass = v.optBool(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
      const multiRegion = v.optBool(input, 'MultiRegion') ?? false;
      const tags = validateTags(input['Tags'], 'Tags');
      checkSpecUsage(keySpec, keyUsage);
      if (origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE')
        throw err.unsupported(
          `Origin ${origin} needs a custom key store, which the emulator does not model.`,
        );
      if (v.optStr(input, 'CustomKeyStoreId'))
        throw err.unsupported('Custom key stores are not modelled by the emulator.');
      const policy = policyText === undefined ? undefined : parsePolicyOrThrow(policyText);
      const k = store.buildKey({
        accountId: ctx.accountId,
        region: ctx.region,
        now: ctx.now,
        description,
        keySpec,
        keyUsage,
        origin,
        multiRegion,
        ...(policyText !== undefined ? { policyText, policy } : {}),
      });
      if (policy && !bypass) lockoutCheck(ctx, policy, k.arn);
      k.tags = mergedTags(k.tags, tags);
      store.insertKey(k);
      return { KeyMetadata: metadata(k) };
    },

    DescribeKey(ctx, input) {
      v.optStringList(input, 'GrantTokens');
      const k = keyFor(ctx, keyIdInput(input), { aliases: true, crossAccount: true });
      authorize(ctx, k, 'DescribeKey', requestAliasContext(input), {});
      return { KeyMetadata: metadata(k) };
    },

    ListKeys(ctx, input) {
      const { limit, marker } = listInput(input, 1000, 100);
      authorizeIam(ctx, 'ListKeys');
      const all = store.keysIn(ctx.accountId, ctx.region);
      const { page, truncated, nextMarker } = paginate(all, limit, marker);
      return {
        Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    UpdateKeyDescription(ctx, input) {
      const description = v.str(input, 'Description', { max: 8192 });
      const k = managedKey(ctx, input, 'UpdateKeyDescription');
      requireNotPendingDeletion(k);
      k.description = description;
      return {};
    },

    EnableKey(ctx, input) {
      const k = managedKey(ctx, input, 'EnableKey');
      requireTogglable(k);
      if (k.state === 'Enabled') return {};
      k.state = 'Enabled';
      store.notify(k);
      life.catchUpRotation(k, ctx.now);
      return {};
    },

    DisableKey(ctx, input) {
      const k = managedKey(ctx, input, 'DisableKey');
      requireTogglable(k);
      if (k.state === 'Disabled') return {};
      k.state = 'Disabled';
      store.notify(k);
      return {};
    },

    // -- aliases

    CreateAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      const target = keyIdInput(input, 'TargetKeyId');
      validateAliasName(name);
      authorizeIam(ctx, 'CreateAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const k = keyFor(ctx, target);
      authorize(ctx, k, 'CreateAlias');
      requireNotPendingDeletion(k);
      store.addAlias(k, name, ctx.now);
      return {};
    },

    UpdateAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      const target = keyIdInput(input, 'TargetKeyId');
      validateAliasName(name);
      authorizeIam(ctx, 'UpdateAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const scope = scopeOf(ctx.accountId, ctx.region);
      const alias = store.aliasesByScope.get(scope)?.get(name);
      if (!alias)
        throw err.notFound(`Alias arn:aws:kms:${ctx.region}:${ctx.accountId}:${name} is not found.`);
      const from = store.keys.get(`${ctx.accountId}/${ctx.region}/${alias.targetKeyId}`)!;
      const to = keyFor(ctx, target);
      authorize(ctx, from, 'UpdateAlias');
      authorize(ctx, to, 'UpdateAlias');
      requireNotPendingDeletion(to);
      if (!sameKeyType(from, to))
        v.fail('The new target key must have the same key type and key usage as the current target key.');
      if (from === to) return {};
      if (to.aliases.size >= world.config.aliasesPerKey)
        throw err.limit(
          `The key ${to.arn} already has ${to.aliases.size} aliases (the limit is ${world.config.aliasesPerKey}).`,
        );
      from.aliases.delete(name);
      to.aliases.add(name);
      alias.targetKeyId = to.keyId;
      alias.lastUpdatedDate = ctx.now;
      return {};
    },

    DeleteAlias(ctx, input) {
      const name = v.str(input, 'AliasName', { min: 1, max: 256 });
      if (!name.startsWith('alias/')) v.fail(`Alias must start with the prefix "alias/": ${name}`);
      refuseReservedAlias(name);
      authorizeIam(ctx, 'DeleteAlias', `arn:aws:kms:${ctx.region}:${ctx.accountId}:${name}`);
      const scope = scopeOf(ctx.accountId, ctx.region);
      const alias = store.aliasesByScope.get(scope)?.get(name);
      if (!alias)
        throw err.notFound(`Alias arn:aws:kms:${ctx.region}:${ctx.accountId}:${name} is not found.`);
      const k = store.keys.get(`${ctx.accountId}/${ctx.region}/${alias.targetKeyId}`)!;
      authorize(ctx, k, 'DeleteAlias');
      store.aliasesByScope.get(scope)!.delete(name);
      store.aliasesChanged(scope);
      k.aliases.delete(name);
      return {};
    },

    ListAliases(ctx, input) {
      const { limit, marker } = listInput(input, 100, 50);
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      authorizeIam(ctx, 'ListAliases');
      const inScope = store.aliasesByScope.get(scopeOf(ctx.accountId, ctx.region));
      const names =
        keyRef !== undefined
          ? [...keyFor(ctx, keyRef).aliases].sort()
          : store.sortedAliasNames(ctx.accountId, ctx.region);
      const { page, truncated, nextMarker } = paginate(names, limit, marker);
      return {
        Aliases: page.map((n) => aliasEntry(inScope!.get(n)!)),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    // -- key policies

    GetKeyPolicy(ctx, input) {
      const name = v.optStr(input, 'PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ }) ?? 'default';
      const k = managedKey(ctx, input, 'GetKeyPolicy');
      if (name !== 'default')
        throw err.notFound(`No such policy exists: ${name} (the only policy name is "default")`);
      return { Policy: k.policyText, PolicyName: 'default' };
    },

    PutKeyPolicy(ctx, input) {
      const name = v.optStr(input, 'PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ }) ?? 'default';
      const text = v.str(input, 'Policy', { min: 1, max: 32768 });
      const bypass = v.optBool(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
      const k = managedKey(ctx, input, 'PutKeyPolicy');
      if (name !== 'default')
        throw err.notFound(`No such policy exists: ${name} (the only policy name is "default")`);
      const policy = parsePolicyOrThrow(text);
      if (!bypass) lockoutCheck(ctx, policy, k.arn);
      k.policy = policy;
      k.policyText = text;
      store.notify(k);
      return {};
    },

    ListKeyPolicies(ctx, input) {
      managedKey(ctx, input, 'ListKeyPolicies');
      return { PolicyNames: ['default'], Truncated: false };
    },

    // -- rotation

    EnableKeyRotation(ctx, input) {
      const period = v.optInt(input, 'RotationPeriodInDays', { min: 90, max: 2560 }) ?? 365;
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'EnableKeyRotation', { 'kms:RotationPeriodInDays': String(period) });
      requireRotatable(k);
      requireUsable(k);
      life.enableRotation(k, period, ctx.now);
      return {};
    },

    DisableKeyRotation(ctx, input) {
      const k = managedKey(ctx, input, 'DisableKeyRotation');
      requireRotatable(k);
      requireUsable(k);
      life.disableRotation(k);
      return {};
    },

    GetKeyRotationStatus(ctx, input) {
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'GetKeyRotationStatus');
      if (k.keySpec !== 'SYMMETRIC_DEFAULT') requireRotatable(k);
      if (k.state === 'PendingImport') throw err.invalidState(`${k.arn} is pending import.`);
      const pendingDeletion = k.state === 'PendingDeletion';
      const enabled = k.rotation.enabled && !pendingDeletion;
      const out: JsonObject = { KeyId: k.arn, KeyRotationEnabled: enabled };
      if (enabled) {
        out['RotationPeriodInDays'] = k.rotation.periodDays;
        if (k.rotation.nextAt !== undefined) out['NextRotationDate'] = epochSeconds(k.rotation.nextAt);
      }
      if (k.onDemand) out['OnDemandRotationStartDate'] = epochSeconds(k.onDemand.startedAt);
      return out;
    },

    RotateKeyOnDemand(ctx, input) {
      const k = managedKey(ctx, input, 'RotateKeyOnDemand');
      requireRotatable(k);
      requireUsable(k);
      const refused = onDemandRotationProblem(k, ctx.now, world.config.onDemandRotationCap);
      if (refused) throw refused;
      life.scheduleOnDemand(k, ctx.now);
      return { KeyId: k.arn };
    },

    ListKeyRotations(ctx, input) {
      const { limit, marker } = listInput(input, 1000, 100);
      const include =
        v.optEnum(input, 'IncludeKeyMaterial', ['ROTATIONS_ONLY', 'ALL_KEY_MATERIAL'] as const) ??
        'ROTATIONS_ONLY';
      const k = managedKey(ctx, input, 'ListKeyRotations');
      requireRotatable(k);
      const state = (id: string) => (id === k.currentMaterialId ? 'CURRENT' : 'NON_CURRENT');
      const entries: JsonObject[] = [];
      if (include === 'ALL_KEY_MATERIAL' && k.initialMaterialId)
        entries.push({
          KeyId: k.keyId,
          KeyMaterialId: k.initialMaterialId,
          KeyMaterialState: state(k.initialMaterialId),
        });
      for (const r of k.rotations)
        entries.push({
          KeyId: k.keyId,
          KeyMaterialId: r.materialId,
          KeyMaterialState: state(r.materialId),
          RotationDate: epochSeconds(r.date),
          RotationType: r.type,
        });
      const { page, truncated, nextMarker } = paginate(entries, limit, marker);
      return { Rotations: page, Truncated: truncated, ...(nextMarker ? { NextMarker: nextMarker } : {}) };
    },

    // -- deletion

    ScheduleKeyDeletion(ctx, input) {
      const days = v.optInt(input, 'PendingWindowInDays', { min: 7, max: 30 }) ?? 30;
      const k = keyFor(ctx, keyIdInput(input));
      authorize(ctx, k, 'ScheduleKeyDeletion', {
        'kms:ScheduleKeyDeletionPendingWindowInDays': String(days),
      });
      requireNotPendingDeletion(k);
      life.scheduleDeletion(k, days, ctx.now);
      store.notify(k);
      return {
        KeyId: k.arn,
        DeletionDate: epochSeconds(k.deletion!.date),
        KeyState: 'PendingDeletion',
        PendingWindowInDays: days,
      };
    },

    CancelKeyDeletion(ctx, input) {
      const k = managedKey(ctx, input, 'CancelKeyDeletion');
      if (k.state !== 'PendingDeletion')
        throw err.invalidState(`${k.arn} is not pending deletion (it is ${k.state}).`);
      k.deletion?.event.cancel();
      k.deletion = undefined;
      k.state = stateAfterCancelledDeletion(k);
      store.notify(k);
      return { KeyId: k.arn };
    },

    // -- grants

    CreateGrant(ctx, input) {
      const grantee = v.optStr(input, 'GranteePrincipal', { min: 1, max: 256 });
      const granteeService = v.optStr(input, 'GranteeServicePrincipal', { min: 1, max: 256 });
      if ((grantee === undefined) === (granteeService === undefined))
        v.fail('Specify exactly one of GranteePrincipal and GranteeServicePrincipal.');
      const ops = v.optStringList(input, 'Operations');
      if (!ops || ops.length === 0)
        v.fail(
          "1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null",
        );
      for (const op of ops!)
        if (!(grantOperations as readonly string[]).includes(op))
          v.fail(
            `1 validation error detected: Value '${op}' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [${grantOperations.join(', ')}]`,
          );
      const retiring = v.optStr(input, 'RetiringPrincipal', { min: 1, max: 256 });
      const retiringService = v.optStr(input, 'RetiringServicePrincipal', { min: 1, max: 256 });
      const name = v.optStr(input, 'Name', { min: 1, max: 256, pattern: grantNamePattern });
      const rawConstraints = v.optObject(input, 'Constraints');
      let constraints: Grant['constraints'];
      if (rawConstraints) {
        const subset = contextMap(rawConstraints['EncryptionContextSubset'], 'EncryptionContextSubset');
        const equals = contextMap(rawConstraints['EncryptionContextEquals'], 'EncryptionContextEquals');
        const sourceArn = v.optStr(rawConstraints, 'SourceArn', { min: 1, max: 2048 });
        if (subset && equals)
          v.fail('Specify only one of EncryptionContextSubset and EncryptionContextEquals.');
        constraints = {
          ...(subset ? { EncryptionContextSubset: subset } : {}),
          ...(equals ? { EncryptionContextEquals: equals } : {}),
          ...(sourceArn ? { SourceArn: sourceArn } : {}),
        };
      }
      if (granteeService && (!constraints?.SourceArn || !retiringService))
        v.fail(
          'A grant for a GranteeServicePrincipal needs a SourceArn constraint and a RetiringServicePrincipal.',
        );
      v.optStringList(input, 'GrantTokens');
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      const ec = constraints?.EncryptionContextEquals ?? constraints?.EncryptionContextSubset;
      const grantCtx: Record<string, string | string[]> = {
        'kms:GrantOperations': ops!,
        'kms:GrantIsForAWSResource': 'false',
        ...(grantee ? { 'kms:GranteePrincipal': grantee } : {}),
        ...(retiring ? { 'kms:RetiringPrincipal': retiring } : {}),
        ...encryptionContextConditions(ec),
      };
      if (constraints?.EncryptionContextEquals)
        grantCtx['kms:GrantConstraintType'] = 'EncryptionContextEquals';
      else if (constraints?.EncryptionContextSubset)
        grantCtx['kms:GrantConstraintType'] = 'EncryptionContextSubset';
      authorize(ctx, k, 'CreateGrant', grantCtx, {
        ec,
        newGrant: { operations: ops!, equals: constraints?.EncryptionContextEquals !== undefined },
      });
      requireUsable(k);
      checkDryRun(input);
      const fields: Omit<Grant, 'grantId' | 'creationDate'> = {
        keyId: k.arn,
        operations: [...ops!],
        issuingAccount: `arn:aws:iam::${ctx.accountId}:root`,
        ...(name !== undefined ? { name } : {}),
        ...(grantee ? { granteePrincipal: grantee } : {}),
        ...(granteeService ? { granteeServicePrincipal: granteeService } : {}),
        ...(retiring ? { retiringPrincipal: retiring } : {}),
        ...(retiringService ? { retiringServicePrincipal: retiringService } : {}),
        ...(constraints ? { constraints } : {}),
      };
      if (name !== undefined) {
        for (const id of k.grantsByName.get(name) ?? []) {
          const g = k.grants.get(id)!;
          if (sameGrant(g, fields)) return { GrantId: g.grantId, GrantToken: store.issueToken(k, g.grantId) };
        }
      }
      const grant: Grant = { ...fields, grantId: store.hex(64), creationDate: ctx.now };
      store.storeGrant(k, grant);
      return { GrantId: grant.grantId, GrantToken: store.issueToken(k, grant.grantId) };
    },

    ListGrants(ctx, input) {
      const { limit, marker } = listInput(input, 100, 50);
      const grantId = v.optStr(input, 'GrantId', { min: 1, max: 128 });
      const grantee = v.optStr(input, 'GranteePrincipal', { min: 1, max: 256 });
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'ListGrants');
      let grants: Grant[];
      if (grantId !== undefined) {
        const g = k.grants.get(grantId);
        grants = g ? [g] : [];
      } else grants = [...k.grants.values()];
      if (grantee !== undefined)
        grants = grants.filter(
          (g) => g.granteePrincipal === grantee || g.granteeServicePrincipal === grantee,
        );
      const { page, truncated, nextMarker } = paginate(grants, limit, marker);
      return {
        Grants: page.map(grantEntry),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },

    RetireGrant(ctx, input) {
      const token = v.optStr(input, 'GrantToken', { min: 1, max: 8192 });
      const grantId = v.optStr(input, 'GrantId', { min: 1, max: 128 });
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      let k: KeyRecord;
      let id: string;
      if (token !== undefined) {
        const t = store.grantTokens.get(token);
        if (!t) throw new AwsError('InvalidGrantTokenException', 'The grant token is not valid.', 400);
        k = t.key;
        id = t.grantId;
      } else {
        if (grantId === undefined || keyRef === undefined)
          v.fail('Specify either GrantToken, or both KeyId and GrantId.');
        if (!keyRef!.startsWith('arn:')) throw err.invalidArn('RetireGrant takes the key ARN in KeyId.');
        k = keyFor(ctx, keyRef!, { crossAccount: true });
        id = grantId!;
      }
      const g = k.grants.get(id);
      if (!g) throw err.notFound(`Grant ${id} does not exist on ${k.arn}.`);
      const me = callerNames(ctx.caller);
      const allowedByGrant =
        (g.retiringPrincipal !== undefined && me.has(g.retiringPrincipal)) ||
        (g.granteePrincipal !== undefined &&
          me.has(g.granteePrincipal) &&
          g.operations.includes('RetireGrant'));
      if (!allowedByGrant) authorize(ctx, k, 'RetireGrant');
      checkDryRun(input);
      store.removeGrant(k, id);
      return {};
    },

    RevokeGrant(ctx, input) {
      const grantId = v.str(input, 'GrantId', { min: 1, max: 128 });
      const k = keyFor(ctx, keyIdInput(input), { crossAccount: true });
      authorize(ctx, k, 'RevokeGrant');
      if (!k.grants.has(grantId)) throw err.notFound(`Grant ${grantId} does not exist on ${k.arn}.`);
      checkDryRun(input);
      store.removeGrant(k, grantId);
      return {};
    },

    // -- cryptographic operations

    Encrypt(ctx, input) {
      const plaintext = blobInput(input, 'Plaintext');
      if (!plaintext)
        v.fail(
          "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
        );
      if (plaintext!.length < 1 || plaintext!.length > 4096)
        v.fail(
          "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
        );
      const ec = v.optStringMap(input, 'EncryptionContext');
      const algorithm = v.optStr(input, 'EncryptionAlgorithm');
      v.optStringList(input, 'GrantTokens');
      const k = cryptoKey(ctx, input);
      authorizeCrypto(ctx, k, 'Encrypt', input, ec, {
        'kms:EncryptionAlgorithm': algorithm ?? 'SYMMETRIC_DEFAULT',
      });
      const allowed = keySpecs[k.keySpec]?.encryption ?? [];
      const alg = algorithm ?? (k.keySpec === 'SYMMETRIC_DEFAULT' ? 'SYMMETRIC_DEFAULT' : undefined);
      if (!alg || !allowed.includes(alg))
        throw err.keyUsage(
          `Encryption algorithm ${alg ?? '(none)'} is not valid for ${k.arn}; valid: ${allowed.join(', ')}`,
        );
      checkDryRun(input);
      return {
        KeyId: k.arn,
        CiphertextBlob: encrypt(k, plaintext!, ec).toString('base64'),
        EncryptionAlgorithm: alg,
      };
    },

    Decrypt(ctx, input) {
      const modifiers = v.optStringList(input, 'DryRunModifiers') ?? [];
      for (const m of modifiers)
        if (m !== 'IGNORE_CIPHERTEXT')
          v.fail(
            `1 validation error detected: Value '${m}' at 'dryRunModifiers' failed to satisfy constraint: Member must satisfy enum value set: [IGNORE_CIPHERTEXT]`,
          );
      const dryRun = v.optBool(input, 'DryRun') ?? false;
      if (modifiers.length > 0 && !dryRun)
        v.fail('DryRunModifiers can only be used with DryRun set to true.');
      const ignoreCiphertext = modifiers.includes('IGNORE_CIPHERTEXT');
      const ec = v.optStringMap(input, 'EncryptionContext');
      const algorithm = v.optStr(input, 'EncryptionAlgorithm');
      v.optStringList(input, 'GrantTokens');
      const keyRef = v.optStr(input, 'KeyId', { min: 1, max: 2048 });
      const blob = blobInput(input, 'CiphertextBlob');
      if (ignoreCiphertext && keyRef === undefined)
        v.fail('KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.');
      if (!ignoreCiphertext && !blob)
        v.fail(
          "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null",
        );
      const named = keyRef !== undefined ? cryptoKey(ctx, input) : undefined;
      let env: Envelope | undefined;
      let k: KeyRecord;
      if (ignoreCiphertext) {
        k = named!;
      } else {
        env = openEnvelope(blob!);
        if (!env) throw err.ciphertext('The ciphertext is invalid.');
        const found = store.lookup(env.keyArn, ctx.region, ctx.accountId);
        if (!found.key) {
          if (env.keyArn.split(':')[3] !== ctx.region)
            throw err.ciphertext('The ciphertext was made in another Region.');
          throw found.error ?? err.ciphertext();
        }
        if (named && named !== found.key)
          throw new AwsError(
            'IncorrectKeyException',
            'The key ID in the request does not identify a KMS key that can perform this operation.',
            400,
          );
        k = found.key;
      }
      authorizeCrypto(ctx, k, 'Decrypt', input, ec, {
        'kms:EncryptionAlgorithm': algorithm ?? 'SYMMETRIC_DEFAULT',
      });
      if (dryRun) throw err.dryRun();
      const material = k.materials.get(env!.materialId);
      const plaintext = material ? unseal(env!, material, ec) : undefined;
      if (!plaintext) throw err.ciphertext();
      return {
        KeyId: k.arn,
        Plaintext: plaintext.toString('base64'),
        EncryptionAlgorithm: algorithm ?? keySpecs[k.keySpec]?.encryption?.[0] ?? 'SYMMETRIC_DEFAULT',
        KeyMaterialId: env!.materialId,
      };
    },

    GenerateDataKey(ctx, input) {
      const { plaintext, out } = generateDataKey(ctx, input, 'GenerateDataKey');
      return { ...out, Plaintext: plaintext.toString('base64') };
    },

    GenerateDataKeyWithoutPlaintext(ctx, input) {
      return generateDataKey(ctx, input, 'GenerateDataKeyWithoutPlaintext').out;
    },

    // -- tags

    TagResource(ctx, input) {
      const tags = validateTags(input['Tags'], 'Tags');
      if (input['Tags'] === undefined)
        v.fail(
          "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        );
      const k = managedKey(ctx, input, 'TagResource');
      requireNotPendingDeletion(k);
      k.tags = mergedTags(k.tags, tags);
      return {};
    },

    UntagResource(ctx, input) {
      const tagKeys = v.optStringList(input, 'TagKeys');
      if (!tagKeys)
        v.fail(
          "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        );
      const k = managedKey(ctx, input, 'UntagResource');
      requireNotPendingDeletion(k);
      for (const t of tagKeys!) k.tags.delete(t);
      return {};
    },

    ListResourceTags(ctx, input) {
      const { limit, marker } = listInput(input, 50, 50);
      const k = managedKey(ctx, input, 'ListResourceTags');
      const { page, truncated, nextMarker } = paginate([...k.tags], limit, marker);
      return {
        Tags: page.map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        Truncated: truncated,
        ...(nextMarker ? { NextMarker: nextMarker } : {}),
      };
    },
  };
}
