// The bench fleet: N workloads split evenly over the three services, spread over Regions so that
// no Region holds more than 256 Keyspaces tables (AWS's default per-Region table quota), each Region
// with its own KMS keys (KMS keys are Regional), and one namespace per Region holding that Region's
// KmsKey objects and workloads (so no cross-namespace references are needed).
//
// Pure: it produces the emulator seed document and the Kubernetes manifests; bench/scenarios.ts
// applies them.

import type { WorkloadService } from './floor.ts';

export const accountId = '111122223333';
export const operatorAccessKey = 'AKIABENCHOPERATOR001';
export const operatorSecret = 'bench-secret';
const maxTablesPerRegion = 256;
/** The fleet shares about this many keys in all (at least 2 per Region, so a switch has a target). */
const targetKeys = 10;

const allRegions = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-north-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-south-1',
  'ca-central-1',
  'sa-east-1',
];

export interface FleetWorkload {
  service: WorkloadService;
  kind: 'FlinkApplication' | 'KeyspacesTable' | 'EmrServerlessApplication';
  plural: 'flinkapplications' | 'keyspacestables' | 'emrserverlessapplications';
  namespace: string;
  name: string;
  region: string;
  /** Index of the key (within its Region) the workload starts on. */
  slot: number;
  /** What the emulator call log shows in requestParameters to identify it (undefined for EMR). */
  awsName?: string;
  awsId: string;
}

export interface FleetKey {
  namespace: string;
  name: string;
  region: string;
  slot: number;
  keyId: string;
  arn: string;
}

export interface Fleet {
  n: number;
  regions: string[];
  keysPerRegion: number;
  namespaces: string[];
  keys: FleetKey[];
  workloads: FleetWorkload[];
  counts: Record<WorkloadService, number>;
}

export function fleetLayout(n: number): Fleet {
  const base = Math.floor(n / 3);
  const rest = n % 3;
  const counts: Record<WorkloadService, number> = {
    kinesisanalytics: base + (rest > 0 ? 1 : 0),
    cassandra: base + (rest > 1 ? 1 : 0),
    'emr-serverless': base,
  };
  const regionCount = Math.max(1, Math.ceil(counts.cassandra / maxTablesPerRegion));
  if (regionCount > allRegions.length)
    throw new Error(`N=${n} needs ${regionCount} Regions; at most ${allRegions.length}`);
  const regions = allRegions.slice(0, regionCount);
  const keysPerRegion = Math.max(2, Math.ceil(targetKeys / regionCount));
  const namespace = (region: string) => `bench-${region}`;
  const keys: FleetKey[] = [];
  regions.forEach((region, r) => {
    for (let k = 0; k < keysPerRegion; k++) {
      const keyId = `be9c0000-0000-4000-8000-${(r * 100 + k).toString(16).padStart(12, '0')}`;
      keys.push({
        namespace: namespace(region),
        name: `key-${k}`,
        region,
        slot: k,
        keyId,
        arn: `arn:aws:kms:${region}:${accountId}:key/${keyId}`,
      });
    }
  });
  const workloads: FleetWorkload[] = [];
  const place = (i: number) => {
    const r = i % regionCount;
    return {
      region: regions[r]!,
      namespace: namespace(regions[r]!),
      slot: Math.floor(i / regionCount) % keysPerRegion,
    };
  };
  for (let i = 0; i < counts.kinesisanalytics; i++) {
    const name = `flink-${i}`;
    workloads.push({
      service: 'kinesisanalytics',
      kind: 'FlinkApplication',
      plural: 'flinkapplications',
      name,
      awsName: `bench-${name}`,
      awsId: `bench-${name}`,
      ...place(i),
    });
  }
  for (let i = 0; i < counts.cassandra; i++) {
    const name = `table-${i}`;
    workloads.push({
      service: 'cassandra',
      kind: 'KeyspacesTable',
      plural: 'keyspacestables',
      name,
      awsName: `t${i}`,
      awsId: `t${i}`,
      ...place(i),
    });
  }
  for (let i = 0; i < counts['emr-serverless']; i++) {
    workloads.push({
      service: 'emr-serverless',
      kind: 'EmrServerlessApplication',
      plural: 'emrserverlessapplications',
      name: `emr-${i}`,
      awsId: `00bench${String(i).padStart(9, '0')}`,
      ...place(i),
    });
  }
  return { n, regions, keysPerRegion, namespaces: regions.map(namespace), keys, workloads, counts };
}

/**
 * The order the bench applies a fleet-wide change in: one workload of each service in turn. Each
 * service has its own controller and quotas, and the floor counts every change as asked for at
 * once; applied service by service, the last service's changes came tens of seconds after the
 * first's (the API server takes ~150 patches a second under the switch's load), and its quota stood
 * unused meanwhile.
 */
export function interleavedByService(workloads: readonly FleetWorkload[]): FleetWorkload[] {
  const byService = new Map<string, FleetWorkload[]>();
  for (const w of workloads) {
    const list = byService.get(w.service) ?? [];
    list.push(w);
    byService.set(w.service, list);
  }
  const lists = [...byService.values()];
  const out: FleetWorkload[] = [];
  for (let i = 0; out.length < workloads.length; i++)
    for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

export function keyFor(fleet: Fleet, region: string, slot: number): FleetKey {
  const r = fleet.regions.indexOf(region);
  return fleet.keys[r * fleet.keysPerRegion + (slot % fleet.keysPerRegion)]!;
}

/** A key policy the three workload services accept (as in examples/emulator-seed.yaml). */
function servicePolicy() {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersAndUsesTheKey',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'ManagedFlink',
        Effect: 'Allow',
        Principal: {
          Service: ['kinesisanalytics.amazonaws.com', 'infrastructure.kinesisanalytics.amazonaws.com'],
        },
        Action: [
          'kms:DescribeKey',
          'kms:Decrypt',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:CreateGrant',
        ],
        Resource: '*',
      },
      {
        Sid: 'EmrServerless',
        Effect: 'Allow',
        Principal: { Service: 'emr-serverless.amazonaws.com' },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
      },
    ],
  };
}

/** The emulator seed: the operator's principal, the keys, and every workload on its first key. */
export function seedDocument(fleet: Fleet): Record<string, unknown> {
  const policy = servicePolicy();
  const arnOf = (w: FleetWorkload) => keyFor(fleet, w.region, w.slot).arn;
  return {
    principals: [
      {
        accessKeyId: operatorAccessKey,
        arn: `arn:aws:iam::${accountId}:role/cmk-operator`,
        iamAllow: ['kms:*', 'kinesisanalytics:*', 'cassandra:*', 'emr-serverless:*', 'sts:*', 'iam:PassRole'],
      },
    ],
    kms: {
      keys: fleet.keys.map((k) => ({
        keyId: k.keyId,
        description: `bench key ${k.region} ${k.slot}`,
        region: k.region,
        accountId,
        rotation: { enabled: true, periodInDays: 365 },
        policy,
      })),
    },
    kinesisanalytics: {
      applications: fleet.workloads
        .filter((w) => w.service === 'kinesisanalytics')
        .map((w) => ({
          name: w.awsName,
          runtime: 'FLINK-1_20',
          status: 'READY',
          keyType: 'CUSTOMER_MANAGED_KEY',
          keyId: arnOf(w),
          serviceExecutionRole: `arn:aws:iam::${accountId}:role/bench-flink`,
          region: w.region,
          accountId,
        })),
    },
    cassandra: {
      keyspaces: fleet.regions.map((region) => ({
        name: 'bench',
        region,
        accountId,
        tables: fleet.workloads
          .filter((w) => w.service === 'cassandra' && w.region === region)
          .map((w) => ({
            name: w.awsName,
            status: 'ACTIVE',
            encryption: { type: 'CUSTOMER_MANAGED_KMS_KEY', kmsKeyIdentifier: arnOf(w) },
          })),
      })),
    },
    'emr-serverless': {
      applications: fleet.workloads
        .filter((w) => w.service === 'emr-serverless')
        .map((w) => ({
          name: `bench-${w.name}`,
          id: w.awsId,
          state: 'CREATED',
          releaseLabel: 'emr-7.5.0',
          type: 'SPARK',
          diskEncryption: { encryptionKeyArn: arnOf(w) },
          region: w.region,
          accountId,
        })),
    },
  };
}

export const apiVersion = 'cmk.io/v1alpha1';

export function kmsKeyManifest(k: FleetKey): Record<string, unknown> {
  return {
    apiVersion,
    kind: 'KmsKey',
    metadata: { name: k.name, namespace: k.namespace },
    spec: { keyId: k.arn, region: k.region },
  };
}

export function workloadManifest(fleet: Fleet, w: FleetWorkload, slot = w.slot): Record<string, unknown> {
  const key = { kmsKeyRef: { name: keyFor(fleet, w.region, slot).name } };
  const identity =
    w.service === 'kinesisanalytics'
      ? { applicationName: w.awsName }
      : w.service === 'cassandra'
        ? { keyspaceName: 'bench', tableName: w.awsName }
        : { applicationId: w.awsId };
  return {
    apiVersion,
    kind: w.kind,
    metadata: { name: w.name, namespace: w.namespace },
    spec: { ...identity, region: w.region, key },
  };
}
