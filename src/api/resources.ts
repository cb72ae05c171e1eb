// Typed objects and API resource descriptors for every cmk.io kind, for the runtime's client,
// informers and events.

import type { KubeObject, ResourceType } from '../runtime/kube.ts';
import type { KeyReferenceGrantSpec } from './grants.ts';
import type { KmsKeySpec, KmsKeyStatus } from './kmskey.ts';
import { group, version } from './shared.ts';
import type {
  EmrServerlessApplicationSpec,
  EmrServerlessJobRunSpec,
  EmrServerlessSessionSpec,
  FlinkApplicationSpec,
  KeyspacesTableSpec,
} from './workloads.ts';

const cmk = (kind: string, plural: string): ResourceType => ({
  group,
  version,
  plural,
  namespaced: true,
  kind,
});

export const cmkResources = {
  kmsKey: cmk('KmsKey', 'kmskeys'),
  flinkApplication: cmk('FlinkApplication', 'flinkapplications'),
  keyspacesTable: cmk('KeyspacesTable', 'keyspacestables'),
  emrServerlessApplication: cmk('EmrServerlessApplication', 'emrserverlessapplications'),
  emrServerlessJobRun: cmk('EmrServerlessJobRun', 'emrserverlessjobruns'),
  emrServerlessSession: cmk('EmrServerlessSession', 'emrserverlesssessions'),
  keyReferenceGrant: cmk('KeyReferenceGrant', 'keyreferencegrants'),
} as const;

/** Kinds whose spec.key may reference a KmsKey. */
export const referencingResources = [
  cmkResources.flinkApplication,
  cmkResources.keyspacesTable,
  cmkResources.emrServerlessApplication,
  cmkResources.emrServerlessJobRun,
  cmkResources.emrServerlessSession,
] as const;

export interface KmsKeyObject extends KubeObject {
  spec: KmsKeySpec;
  status?: KmsKeyStatus;
}

export interface KeyReferencingObject extends KubeObject {
  spec:
    | FlinkApplicationSpec
    | KeyspacesTableSpec
    | EmrServerlessApplicationSpec
    | EmrServerlessJobRunSpec
    | EmrServerlessSessionSpec;
  status?: Record<string, unknown>;
}

export interface KeyReferenceGrantObject extends KubeObject {
  spec: KeyReferenceGrantSpec;
}

/** The KmsKey (as `namespace/name`) a workload object references, if any. */
export function referencedKmsKey(object: KeyReferencingObject): string | undefined {
  const ref = object.spec?.key?.kmsKeyRef;
  if (!ref?.name) return undefined;
  return `${ref.namespace ?? object.metadata.namespace}/${ref.name}`;
}
