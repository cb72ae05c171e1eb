// The CQL a DBA would run in cqlsh to make the same Keyspaces key change the operator makes through
// UpdateTable: `ALTER TABLE ... WITH CUSTOM_PROPERTIES = {'encryption_specification': ...}` (KS-024).
// `kubectl cmk plan` prints it under a KeyspacesTable's plan. Pure.
//
// Quoting: names are always written as quoted identifiers, because the names we hold are the ones
// Keyspaces stored, exactly as cased (an unquoted identifier would be lower-cased by CQL); a double
// quote inside one is doubled. String literals are single-quoted with an inner single quote doubled.

import type { EncryptionSetting } from '../aws/workload.ts';
import { sameEncryption, type WorkloadPlan, type WorkloadPlanInput } from '../reconcile/workload-plan.ts';

/** A CQL quoted identifier: `"name"`, an inner `"` doubled. */
export function cqlIdentifier(name: string, field = 'name'): string {
  if (name === '') throw new Error(`${field} is empty: a Keyspaces name has 1-48 letters, digits or _`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** A CQL string literal: `'text'`, an inner `'` doubled. */
export function cqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `ALTER TABLE "ks"."tbl" WITH CUSTOM_PROPERTIES = {...};` switching the table to `setting` (KS-024). */
export function alterTableKeyCql(keyspace: string, table: string, setting: EncryptionSetting): string {
  const spec =
    setting.type === 'AwsOwned'
      ? `{'encryption_type': 'AWS_OWNED_KMS_KEY'}`
      : `{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': ${cqlString(setting.keyArn)}}`;
  return (
    `ALTER TABLE ${cqlIdentifier(keyspace, 'keyspaceName')}.${cqlIdentifier(table, 'tableName')} ` +
    `WITH CUSTOM_PROPERTIES = {'encryption_specification': ${spec}};`
  );
}

/**
 * The key change the plan makes (its ChangeKey action) or, in Observe mode, would make (the resource is
 * on another key than the resolved desired one); undefined when there is none.
 */
export function plannedKeyChange(
  input: WorkloadPlanInput,
  plan: WorkloadPlan,
): EncryptionSetting | undefined {
  for (const a of plan.actions) if (a.type === 'ChangeKey') return a.to;
  if (input.spec.mode !== 'Observe' || input.desired.kind !== 'resolved' || input.observed.kind !== 'found')
    return undefined;
  const want = input.desired.setting;
  return sameEncryption(input.observed.state.encryption, want, false) ? undefined : want;
}

/** For a Keyspaces plan: the equivalent CQL of its key change, or undefined (none, or another service). */
export function keyspacesPlanCql(
  input: WorkloadPlanInput,
  plan: WorkloadPlan,
  spec: { keyspaceName?: string; tableName?: string },
): string | undefined {
  if (input.service !== 'Keyspaces' || !spec.keyspaceName || !spec.tableName) return undefined;
  const change = plannedKeyChange(input, plan);
  return change && alterTableKeyCql(spec.keyspaceName, spec.tableName, change);
}
