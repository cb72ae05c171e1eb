// Installs the generated CRDs into the shared test control plane (once per worker; server-side apply
// makes it idempotent across files) and waits until every one is Established.

import { customResourceDefinition, kinds } from '../../../src/api/kinds.ts';
import { group } from '../../../src/api/shared.ts';
import { adminIdentity, eventually } from './cluster.ts';

let installed: Promise<void> | undefined;

export function installCrds(): Promise<void> {
  installed ??= (async () => {
    const admin = adminIdentity();
    for (const def of kinds) {
      const crd = customResourceDefinition(def) as { metadata: { name: string } };
      const res = await admin.request(
        'PATCH',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=cmk-tests&force=true`,
        JSON.stringify(crd),
        { contentType: 'application/apply-patch+yaml' },
      );
      if (res.status >= 300)
        throw new Error(`installing ${crd.metadata.name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    for (const def of kinds) {
      await eventually(
        async () => {
          const res = await admin.request(
            'GET',
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${def.plural}.${group}`,
          );
          const conditions = (
            res.body as { status?: { conditions?: Array<{ type: string; status: string }> } }
          ).status?.conditions;
          return conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
        },
        { what: `${def.plural}.${group} Established`, timeoutMs: 30_000 },
      );
    }
  })();
  return installed;
}
