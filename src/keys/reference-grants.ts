// The KeyReferenceGrant rule (tenancy invariant 4): a workload may reference a KmsKey in another
// namespace only when a grant in the key's namespace lists the workload's namespace in `spec.from`
// and names the key in `spec.to` (or leaves `spec.to` empty: every key there). One definition,
// shared by the operator (informer cache) and the kubectl plugin (API reads). Pure.

import type { KeyReferenceGrantObject } from '../api/resources.ts';

/** Whether `grants` let workloads in `fromNamespace` reference the KmsKey `keyNamespace/keyName`. */
export function referenceGranted(
  grants: Iterable<KeyReferenceGrantObject>,
  fromNamespace: string,
  keyNamespace: string,
  keyName: string,
): boolean {
  for (const g of grants) {
    if (g.metadata.namespace !== keyNamespace) continue;
    if (!g.spec.from.some((f) => f.namespace === fromNamespace)) continue;
    if (!g.spec.to || g.spec.to.length === 0 || g.spec.to.some((t) => t.name === keyName)) return true;
  }
  return false;
}
