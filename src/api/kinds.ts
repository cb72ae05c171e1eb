// Every kind of the cmk.io API in one table: names, schemas, printer columns. The CRD manifests
// (crds/*.yaml, and the Helm chart's copies) are generated from this table and nothing else.

import Type, { type TSchema } from 'typebox';
import { KeyReferenceGrantSpec } from './grants.ts';
import { KmsKeySpec, KmsKeyStatus } from './kmskey.ts';
import { category, group, version } from './shared.ts';
import {
  EmrServerlessApplicationSpec,
  EmrServerlessApplicationStatus,
  EmrServerlessJobRunSpec,
  EmrServerlessJobRunStatus,
  EmrServerlessSessionSpec,
  EmrServerlessSessionStatus,
  FlinkApplicationSpec,
  FlinkApplicationStatus,
  KeyspacesTableSpec,
  KeyspacesTableStatus,
} from './workloads.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: TSchema;
  status?: TSchema;
  columns: PrinterColumn[];
  /** Workload kinds go through the shared workload reconcile core. */
  workload: boolean;
}

const ready: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the object is reconciled and its AWS resource is on the desired key.',
};
const reason: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why it is (not) Ready.',
};
const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Age.',
};
const workloadColumns = (resource: PrinterColumn): PrinterColumn[] => [
  resource,
  {
    name: 'Key',
    type: 'string',
    jsonPath: '.spec.key.kmsKeyRef.name',
    description: 'KmsKey the workload must use.',
  },
  { name: 'AWS-State', type: 'string', jsonPath: '.status.awsState', description: 'State AWS reports.' },
  ready,
  reason,
  {
    name: 'Current-Key',
    type: 'string',
    jsonPath: '.status.current.keyArn',
    description: 'Key AWS reports.',
    priority: 1,
  },
  { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Enforce or Observe.', priority: 1 },
  age,
];

export const kinds: KindDefinition[] = [
  {
    kind: 'KmsKey',
    plural: 'kmskeys',
    singular: 'kmskey',
    shortNames: ['kk'],
    description:
      'A customer managed KMS key: adopted or created, checked before workloads use it, rotated, and held while workloads reference it.',
    spec: KmsKeySpec,
    status: KmsKeyStatus,
    workload: false,
    columns: [
      { name: 'Key-ID', type: 'string', jsonPath: '.status.keyId', description: 'KMS key ID.' },
      { name: 'State', type: 'string', jsonPath: '.status.keyState', description: 'KMS key state.' },
      {
        name: 'Rotation',
        type: 'boolean',
        jsonPath: '.status.rotation.enabled',
        description: 'Automatic rotation.',
      },
      {
        name: 'Workloads',
        type: 'string',
        jsonPath: '.status.workloads.summary',
        description: 'Workloads done / referencing.',
      },
      ready,
      reason,
      { name: 'ARN', type: 'string', jsonPath: '.status.keyArn', description: 'Key ARN.', priority: 1 },
      age,
    ],
  },
  {
    kind: 'FlinkApplication',
    plural: 'flinkapplications',
    singular: 'flinkapplication',
    shortNames: ['flinkapp'],
    description:
      'The encryption key of an existing Amazon Managed Service for Apache Flink application (running and durable application storage).',
    spec: FlinkApplicationSpec,
    status: FlinkApplicationStatus,
    workload: true,
    columns: workloadColumns({
      name: 'Application',
      type: 'string',
      jsonPath: '.spec.applicationName',
      description: 'Flink application.',
    }),
  },
  {
    kind: 'KeyspacesTable',
    plural: 'keyspacestables',
    singular: 'keyspacestable',
    shortNames: ['kstable'],
    description:
      'The encryption key of an existing Amazon Keyspaces table (the API form of ALTER TABLE ... encryption_specification).',
    spec: KeyspacesTableSpec,
    status: KeyspacesTableStatus,
    workload: true,
    columns: workloadColumns({
      name: 'Table',
      type: 'string',
      jsonPath: '.spec.tableName',
      description: 'Keyspaces table.',
    }),
  },
  {
    kind: 'EmrServerlessApplication',
    plural: 'emrserverlessapplications',
    singular: 'emrserverlessapplication',
    shortNames: ['emrapp'],
    description: 'The disk encryption key of an existing EMR Serverless application.',
    spec: EmrServerlessApplicationSpec,
    status: EmrServerlessApplicationStatus,
    workload: true,
    columns: workloadColumns({
      name: 'Application-ID',
      type: 'string',
      jsonPath: '.spec.applicationId',
      description: 'EMR Serverless application.',
    }),
  },
  {
    kind: 'EmrServerlessJobRun',
    plural: 'emrserverlessjobruns',
    singular: 'emrserverlessjobrun',
    shortNames: ['emrjob'],
    description:
      'An EMR Serverless job run submitted with the disk encryption key of its own key reference or its application.',
    spec: EmrServerlessJobRunSpec,
    status: EmrServerlessJobRunStatus,
    workload: false,
    columns: [
      { name: 'Job-Run-ID', type: 'string', jsonPath: '.status.jobRunId', description: 'Job run ID.' },
      { name: 'State', type: 'string', jsonPath: '.status.state', description: 'Job run state.' },
      {
        name: 'Key',
        type: 'string',
        jsonPath: '.status.keyArn',
        description: 'Key of the job disks.',
        priority: 1,
      },
      ready,
      reason,
      age,
    ],
  },
  {
    kind: 'EmrServerlessSession',
    plural: 'emrserverlesssessions',
    singular: 'emrserverlesssession',
    shortNames: ['emrsession'],
    description:
      'An EMR Serverless interactive session started with the disk encryption key of its own key reference or its application, and terminated when the object is deleted.',
    spec: EmrServerlessSessionSpec,
    status: EmrServerlessSessionStatus,
    workload: false,
    columns: [
      { name: 'Session-ID', type: 'string', jsonPath: '.status.sessionId', description: 'Session ID.' },
      { name: 'State', type: 'string', jsonPath: '.status.state', description: 'Session state.' },
      {
        name: 'Key',
        type: 'string',
        jsonPath: '.status.keyArn',
        description: 'Key of the session disks.',
        priority: 1,
      },
      ready,
      reason,
      age,
    ],
  },
  {
    kind: 'KeyReferenceGrant',
    plural: 'keyreferencegrants',
    singular: 'keyreferencegrant',
    shortNames: ['krg'],
    description: 'Allows workloads in other namespaces to reference KmsKeys in this namespace.',
    spec: KeyReferenceGrantSpec,
    workload: false,
    columns: [age],
  },
];

/** The full OpenAPI v3 schema of a kind: apiVersion, kind, metadata, spec, status. */
export function openApiSchema(def: KindDefinition): Record<string, unknown> {
  const root = Type.Object(
    {
      apiVersion: Type.Optional(
        Type.String({ description: 'APIVersion of this representation of an object.' }),
      ),
      kind: Type.Optional(Type.String({ description: 'Kind of this object.' })),
      metadata: Type.Optional(Type.Unsafe({ type: 'object' })),
      spec: def.spec,
      ...(def.status ? { status: Type.Optional(def.status) } : {}),
    },
    { description: def.description },
  );
  return toStructural(JSON.parse(JSON.stringify(root))) as Record<string, unknown>;
}

/**
 * Kubernetes forbids `additionalProperties: false` in CRD schemas (unknown fields are pruned, and
 * rejected under strict field validation, instead). The TypeBox schemas keep it for the operator's own
 * checks; the CRD copy drops it.
 */
function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'additionalProperties' && v === false) continue;
    out[k] = k === 'x-kubernetes-validations' ? v : toStructural(v);
  }
  return out;
}

export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${group}`,
      labels: { 'app.kubernetes.io/name': 'cmk-operator', 'app.kubernetes.io/part-of': 'cmk-operator' },
    },
    spec: {
      group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: [category],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openApiSchema(def) },
          ...(def.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: def.columns,
        },
      ],
    },
  };
}
