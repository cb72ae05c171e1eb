// KMS response shapes built from the store's records.

import { epochSeconds } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import { keySpecs } from './rules.ts';
import type { AliasRecord, Grant, KeyRecord } from './state.ts';

/** KeyMetadata (DescribeKey, CreateKey). */
export function metadata(k: KeyRecord): JsonObject {
  const info = keySpecs[k.keySpec];
  const m: JsonObject = {
    AWSAccountId: k.accountId,
    KeyId: k.keyId,
    Arn: k.arn,
    CreationDate: epochSeconds(k.creationDate),
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: k.keyUsage,
    KeyState: k.state,
    Origin: k.origin,
    KeyManager: k.keyManager,
    CustomerMasterKeySpec: k.keySpec,
    KeySpec: k.keySpec,
    MultiRegion: k.multiRegion,
  };
  if (k.deletion) m['DeletionDate'] = epochSeconds(k.deletion.date);
  if (k.keyUsage === 'ENCRYPT_DECRYPT' && info?.encryption) m['EncryptionAlgorithms'] = info.encryption;
  if (k.keyUsage === 'SIGN_VERIFY' && info?.signing) m['SigningAlgorithms'] = info.signing;
  if (k.keyUsage === 'GENERATE_VERIFY_MAC' && info?.mac) m['MacAlgorithms'] = info.mac;
  if (k.keyUsage === 'KEY_AGREEMENT' && info?.agreement) m['KeyAgreementAlgorithms'] = info.agreement;
  if (k.currentMaterialId && k.keySpec === 'SYMMETRIC_DEFAULT')
    m['CurrentKeyMaterialId'] = k.currentMaterialId;
  if (k.multiRegion)
    m['MultiRegionConfiguration'] = {
      MultiRegionKeyType: 'PRIMARY',
      PrimaryKey: { Arn: k.arn, Region: k.region },
      ReplicaKeys: [],
    };
  return m;
}

export function aliasEntry(a: AliasRecord): JsonObject {
  return {
    AliasName: a.name,
    AliasArn: a.arn,
    TargetKeyId: a.targetKeyId,
    CreationDate: epochSeconds(a.creationDate),
    LastUpdatedDate: epochSeconds(a.lastUpdatedDate),
  };
}

export function grantEntry(g: Grant): JsonObject {
  const e: JsonObject = {
    KeyId: g.keyId,
    GrantId: g.grantId,
    CreationDate: epochSeconds(g.creationDate),
    IssuingAccount: g.issuingAccount,
    Operations: g.operations,
  };
  if (g.name !== undefined) e['Name'] = g.name;
  if (g.granteePrincipal) e['GranteePrincipal'] = g.granteePrincipal;
  if (g.granteeServicePrincipal) e['GranteeServicePrincipal'] = g.granteeServicePrincipal;
  if (g.retiringPrincipal) e['RetiringPrincipal'] = g.retiringPrincipal;
  if (g.retiringServicePrincipal) e['RetiringServicePrincipal'] = g.retiringServicePrincipal;
  if (g.constraints) e['Constraints'] = g.constraints;
  return e;
}

/** The `GET /_emulator/state` entry of a key. */
export function keyState(k: KeyRecord): JsonObject {
  return {
    keyId: k.keyId,
    arn: k.arn,
    state: k.state,
    keySpec: k.keySpec,
    aliases: [...k.aliases],
    rotationEnabled: k.rotation.enabled,
    ...(k.rotation.nextAt !== undefined && k.rotation.enabled
      ? { nextRotation: new Date(k.rotation.nextAt).toISOString() }
      : {}),
    rotations: k.rotations.length,
    currentKeyMaterialId: k.currentMaterialId,
    grants: k.grants.size,
    ...(k.deletion ? { deletionDate: new Date(k.deletion.date).toISOString() } : {}),
  };
}
