// `kubectl cmk import`: the manifests that adopt an existing fleet. Reads every Managed Flink
// application, Keyspaces table and EMR Serverless application of one Region (and the keys they
// use) with the caller's AWS credentials, and writes one KmsKey per customer managed key and one
// workload object per resource, in Observe mode unless --mode says otherwise; a summary of what was
// found, written and skipped goes to stderr.
//
// Guarantees:
// - AWS is only read (import-discovery.ts), at most --calls-per-second; Kubernetes is not touched
//   (no kubeconfig is read): the output is for `kubectl apply`, a Git repository or a review.
// - The same AWS answers give the same output, byte for byte (import-manifests.ts).
// Exit codes: 0 everything found was written (resources claimed by another owner are skipped by
// design); 1 something could not be read or declared (the rest is still written); 2 usage.

import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Document } from 'yaml';
import { type Mode, patterns } from '../api/shared.ts';
import { type AwsTarget, createAwsClients, type StaticCredentials } from '../aws/clients.ts';
import { createPacer } from '../keys/inventory.ts';
import { ownerTag } from '../reconcile/workload-plan.ts';
import { defineCommand } from './command.ts';
import { discoverFleet } from './import-discovery.ts';
import {
  buildImport,
  fileNameOf,
  type ImportedObject,
  type ImportResult,
  incomplete,
  type SkipWhy,
} from './import-manifests.ts';

export const importCli = defineCommand({
  name: 'kubectl cmk import',
  description: `Writes the manifests that adopt what already runs in one AWS Region: a KmsKey (spec.keyId: the
key ARN, deletionPolicy Retain) per customer managed key in use, and a FlinkApplication,
KeyspacesTable or EmrServerlessApplication per resource, referencing its KmsKey (or awsOwned: true),
all in Observe mode. AWS is only read, with your credentials (AWS_PROFILE, AWS_ENDPOINT_URL... as for
the AWS CLI). Resources tagged cmk.io/owner (managed elsewhere) are skipped and listed.`,
  flags: {
    region: {
      type: 'string',
      metavar: 'R',
      env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
      required: true,
      description: 'the Region to read; written as spec.region of every object',
    },
    'role-arn': {
      type: 'string',
      metavar: 'ARN',
      description:
        'IAM role to assume for the reads; written as spec.roleArn of every object, for the operator to assume',
    },
    out: {
      type: 'string',
      metavar: 'DIR',
      defaultText: 'stdout, documents separated by ---',
      description:
        'write one file per object, <kind>-<name>.yaml, into DIR (created if missing; files of the same name are replaced, others left alone)',
    },
    namespace: {
      type: 'string',
      short: 'n',
      metavar: 'NS',
      defaultText: 'none: the namespace kubectl apply uses',
      description: 'metadata.namespace of every object',
    },
    mode: {
      type: 'string',
      choices: ['Observe', 'Enforce'],
      default: 'Observe',
      description: 'spec.mode of every object: Observe reports and never acts; Enforce lets the operator act',
    },
    'cluster-name': {
      type: 'string',
      metavar: 'NAME',
      description:
        "the operator's --cluster-name, sent as the cmk.io/cluster session tag when assuming --role-arn",
    },
    'calls-per-second': {
      type: 'number',
      min: 0.1,
      max: 1000,
      default: 20,
      description: 'AWS calls per second at most, over every service (the SDK also backs off on throttling)',
    },
  },
  footer:
    'exit codes: 0 everything found was written (claimed resources are skipped by design), 1 something\n' +
    'could not be read or declared (the rest is still written), 2 usage',
});

/** Where the command writes, and what tests replace. */
export interface ImportIo {
  out(text: string): void;
  err(text: string): void;
  /** AWS credentials instead of the default chain. */
  awsCredentials?: StaticCredentials;
  /** Environment for flag defaults ($AWS_REGION) instead of the process's. */
  env?: Record<string, string | undefined>;
}

/** One object as YAML, with where it came from as a comment above it. */
export function renderManifest(o: ImportedObject): string {
  const doc = new Document(o.manifest);
  // On the mapping itself, so the comment sits directly above apiVersion.
  (doc.contents as { commentBefore?: string }).commentBefore = ` ${o.comment}`;
  return doc.toString({ lineWidth: 0 });
}

/** Every object as one YAML stream, `---` between documents. */
export function renderStream(objects: readonly ImportedObject[]): string {
  return objects.map(renderManifest).join('---\n');
}

const skipHeadings: Record<SkipWhy, string> = {
  claimed: `skipped, claimed by an owner tag (${ownerTag}): another object or cluster manages it`,
  deleting: 'skipped, being deleted in AWS',
  unreadable: 'skipped, could not be read (fix the cause and run the import again)',
  unsupported: 'skipped, cannot be declared as it is',
};

/** The summary for stderr: what was found and written, the keys, what was skipped and why, what next. */
export function renderSummary(
  result: ImportResult,
  context: { region: string; roleArn?: string; namespace?: string; mode: Mode; out?: string; calls: number },
): string {
  const lines: string[] = [];
  const found = result.objects.length - result.keys.length + result.skipped.filter((s) => s.kind).length;
  lines.push(
    `kubectl cmk import: Region ${context.region}${context.roleArn ? ` as ${context.roleArn}` : ''}: ${found} resource${found === 1 ? '' : 's'} found, ${context.calls} AWS calls (reads only)`,
  );
  const counts = new Map<string, number>();
  for (const o of result.objects) counts.set(o.manifest.kind, (counts.get(o.manifest.kind) ?? 0) + 1);
  lines.push(
    `wrote ${result.objects.length} object${result.objects.length === 1 ? '' : 's'} ${context.out ? `to ${context.out} (one file each)` : 'to stdout'}${context.namespace ? ` for namespace ${context.namespace}` : ''}`,
  );
  for (const [kind, n] of counts) lines.push(`  ${kind.padEnd(26)} ${n}`);
  lines.push(
    context.mode === 'Observe'
      ? 'mode: Observe: the operator reports drift and changes nothing in AWS; set spec.mode: Enforce on what it may change'
      : `mode: Enforce: the operator claims each resource (tag ${ownerTag}) and acts on drift; the specs match what AWS reports now`,
  );
  if (result.keys.length > 0) {
    lines.push('keys:');
    for (const k of result.keys)
      lines.push(
        `  ${k.name}  ${k.arn}  ${k.state}${k.aliases.length > 0 ? `  ${k.aliases.join(',')}` : ''}  (${k.users} workload${k.users === 1 ? '' : 's'})`,
      );
    for (const k of result.keys.filter((k) => k.state !== 'Enabled'))
      lines.push(
        `  warning: ${k.name} is ${k.state}: its KmsKey and workloads will be Stalled until the key is usable again`,
      );
  }
  for (const why of ['claimed', 'deleting', 'unreadable', 'unsupported'] as const) {
    const list = result.skipped.filter((s) => s.why === why);
    if (list.length === 0) continue;
    lines.push(`${skipHeadings[why]}: ${list.length}`);
    for (const s of list) lines.push(`  ${s.kind ? `${s.kind} ` : ''}${s.resource}: ${s.reason}`);
  }
  if (result.objects.length > 0) {
    const ns = context.namespace ? ` -n ${context.namespace}` : '';
    lines.push(
      'next:',
      `  kubectl apply --server-side${ns} -f ${context.out ?? '<the saved output>'}`,
      `  kubectl cmk status${ns}`,
    );
  } else lines.push('nothing to import');
  return `${lines.join('\n')}\n`;
}

/** Values the flag types cannot check: the first wrong one, named with its fix. */
function flagProblem(v: { region: string; 'role-arn'?: string; namespace?: string; out?: string }) {
  if (!new RegExp(patterns.region).test(v.region))
    return `--region "${v.region}" is not an AWS Region code such as eu-west-1`;
  const role = v['role-arn'];
  if (role !== undefined && !new RegExp(patterns.roleArn).test(role))
    return `--role-arn "${role}" is not an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>`;
  const ns = v.namespace;
  if (ns !== undefined && (ns.length > 63 || !new RegExp(patterns.dnsLabel).test(ns)))
    return `--namespace "${ns}" is not a namespace name: lowercase a-z, 0-9 and -, at most 63`;
  if (v.out !== undefined && existsSync(v.out) && !statSync(v.out).isDirectory())
    return `--out "${v.out}" is a file: name a directory (it is created if missing)`;
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `kubectl cmk import ...` (the arguments after `import`): returns the exit code. */
export async function importCommand(args: string[], io: ImportIo): Promise<number> {
  const parsed = importCli.parse(args, io);
  if (!parsed.ok) return parsed.exitCode;
  const v = parsed.values;
  const problem = flagProblem(v);
  if (problem) {
    io.err(`${importCli.spec.name}: ${problem}\n${importCli.usage()}\n`);
    return 2;
  }
  const roleArn = v['role-arn'];
  const namespace = v.namespace;
  const mode = v.mode as 'Observe' | 'Enforce';
  const aws = createAwsClients({
    sessionName: 'kubectl-cmk-import',
    ...(io.awsCredentials ? { credentials: io.awsCredentials } : {}),
    ...(v['cluster-name'] ? { clusterName: v['cluster-name'] } : {}),
  });
  try {
    const target: AwsTarget = {
      region: v.region,
      ...(roleArn ? { roleArn, ...(namespace ? { namespace } : {}) } : {}),
    };
    const pace = createPacer(v['calls-per-second'], Date.now, sleep);
    const discovery = await discoverFleet(aws, target, {
      pace,
      // A large account takes minutes at a modest rate: say so before the long part.
      onListed: (n) =>
        io.err(
          `kubectl cmk import: ${n} resource${n === 1 ? '' : 's'} listed in ${v.region}; reading each, and the keys they use, at up to ${v['calls-per-second']} calls/s\n`,
        ),
    });
    const result = buildImport(discovery, {
      region: v.region,
      mode,
      ...(roleArn ? { roleArn } : {}),
      ...(namespace ? { namespace } : {}),
    });
    if (v.out) {
      mkdirSync(v.out, { recursive: true });
      for (const o of result.objects) writeFileSync(join(v.out, fileNameOf(o.manifest)), renderManifest(o));
    } else io.out(renderStream(result.objects));
    io.err(
      renderSummary(result, {
        region: v.region,
        mode,
        calls: discovery.calls,
        ...(roleArn ? { roleArn } : {}),
        ...(namespace ? { namespace } : {}),
        ...(v.out ? { out: v.out } : {}),
      }),
    );
    return incomplete(result) ? 1 : 0;
  } catch (e) {
    io.err(`kubectl cmk import: ${(e as Error).message}\n`);
    return 1;
  } finally {
    aws.destroy();
  }
}
