// `kubectl cmk`: the kubectl plugin (bin/kubectl-cmk.ts) for people on call.
//
//   status [-n NS|-A]        each KmsKey and, under it, the workloads that reference it
//   rotate KEY [--token T]   on-demand rotation through spec.rotation.onDemandToken (merge patch)
//   explain KIND/NAME        every condition, the runbook remedy for each reason, status.plan
//   plan KIND/NAME | -n NS   what the operator would change, from the reconciler's own observe + plan;
//                            for a KeyspacesTable also the equivalent CQL (src/cli/cql.ts)
//   version                  the plugin's version and the commit it was built from (src/cli/version.ts)
//   import [--out DIR]       manifests adopting a Region's existing fleet (src/cli/import.ts; own flags)
//
// Guarantees:
// - status, explain and plan only read: Kubernetes through get/list, AWS through the same observe
//   code the reconciler runs (src/reconcile/workload.ts observeWorkload) with its events discarded;
//   planWorkload is pure. rotate is the only write, one merge patch of one KmsKey's spec.
// - Rendering is pure (renderStatusTree, renderExplain, renderPlan, remedyFor), tested with plain data.
// Exit codes: 0 ok; 1 a problem was found (not Ready, a missing object, a failed call); 2 usage.

import { kinds } from '../api/kinds.ts';
import {
  cmkResources,
  type KeyReferenceGrantObject,
  type KeyReferencingObject,
  type KmsKeyObject,
  referencedKmsKey,
  referencingResources,
} from '../api/resources.ts';
import { createAwsClients, type StaticCredentials } from '../aws/clients.ts';
import { callerIdentityCache } from '../aws/identity.ts';
import { createKeyCache } from '../keys/key-cache.ts';
import { keyPolicyPreflight } from '../keys/preflight.ts';
import { referenceGranted } from '../keys/reference-grants.ts';
import { loadTenancyRules, type TenancyRules } from '../keys/tenancy.ts';
import {
  observeWorkload,
  type WorkloadKind,
  type WorkloadObject,
  workloadKinds,
} from '../reconcile/workload.ts';
import { keyLabel, ownerTag, planWorkload, type WorkloadPlan } from '../reconcile/workload-plan.ts';
import type { Condition } from '../runtime/conditions.ts';
import type { EventRecorder } from '../runtime/events.ts';
import {
  createKubeClient,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type ResourceType,
} from '../runtime/kube.ts';
import { kubeAccessOf } from '../runtime/kubeconfig.ts';
import { defineCommand } from './command.ts';
import { keyspacesPlanCql } from './cql.ts';
import { importCommand } from './import.ts';
import { keyUsage, renderUsage } from './usage.ts';
import { buildInfo, versionText } from './version.ts';

const cli = defineCommand({
  name: 'kubectl cmk',
  args: '<command> [args]',
  description: `commands:
  status [-n NS | -A]              KmsKeys, the workloads under each, then workloads without a KmsKey
  rotate KEY [-n NS] [--token T]   rotate a KmsKey's key material now (sets spec.rotation.onDemandToken)
  explain KIND/NAME [-n NS]        why an object is not Ready and what fixes it
  plan KIND/NAME | plan [-n NS|-A] what the operator would change (read-only; AWS from AWS_REGION,
                                   AWS_ENDPOINT_URL and the default credential chain); for a
                                   KeyspacesTable also the same change as CQL for cqlsh
  usage KEY [-n NS] [--scan]       everything that uses a KmsKey's key: objects in every namespace,
                                   and what AWS shows (the operator's last inventory, or --scan now)
  version                          the plugin's version, the commit it was built from, and the Node
                                   it runs on (needs no cluster)
  import [--region R] [--out DIR]  manifests adopting a Region's existing workloads and their keys, in
                                   Observe mode (reads AWS only, needs no cluster; kubectl cmk import
                                   --help lists its options)`,
  flags: {
    kubeconfig: {
      type: 'string',
      metavar: 'PATH',
      defaultText: '$KUBECONFIG, then ~/.kube/config',
      description: 'kubeconfig',
    },
    namespace: {
      type: 'string',
      short: 'n',
      metavar: 'NS',
      defaultText: "the kubeconfig context's, else default",
      description: 'namespace',
    },
    'all-namespaces': { type: 'boolean', short: 'A', description: 'every namespace (status, plan)' },
    token: {
      type: 'string',
      metavar: 'T',
      defaultText: 'rotate-<UTC timestamp>',
      description: 'rotate: the token',
    },
    region: {
      type: 'string',
      metavar: 'R',
      defaultText: '$AWS_REGION',
      description: 'plan: Region for objects without spec.region',
    },
    'cluster-name': {
      type: 'string',
      metavar: 'NAME',
      defaultText: "from the resource's owner tag",
      description: "plan: the operator's --cluster-name",
    },
    scan: {
      type: 'boolean',
      description: "usage: scan the key's Region now with your AWS credentials (read-only)",
    },
    'tenancy-config': {
      type: 'string',
      metavar: 'FILE',
      description: "plan: the operator's --tenancy-config, so the plan applies its allow-lists",
    },
  },
  footer: `KIND: kmskey (kk), flinkapplication (flinkapp), keyspacestable (kstable),
      emrserverlessapplication (emrapp), emrserverlessjobrun (emrjob), keyreferencegrant (krg)
exit codes: 0 ok, 1 problem found or failed, 2 usage`,
});
const help = cli.help();

/** Where the command writes, and what tests replace. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** AWS credentials for `plan` instead of the default chain. */
  awsCredentials?: StaticCredentials;
  /** A Kubernetes client instead of one from the kubeconfig (tests wrap it to watch the calls). */
  kube?: KubeClient;
}

const processIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

// ---- rendering (pure) ------------------------------------------------------------------------

type AnyStatus = Record<string, unknown> & { conditions?: Condition[] };
export interface StatusObject extends KubeObject {
  kind?: string;
  spec?: unknown;
  status?: AnyStatus | undefined;
}

const conditionOf = (o: { status?: AnyStatus | undefined }, type: string) =>
  o.status?.conditions?.find((c) => c.type === type);

/** `key/<id>` for a key ARN; the text unchanged otherwise. */
export function shortKey(arn: string | undefined): string {
  if (!arn) return '-';
  if (arn === 'AWS_OWNED') return arn;
  const i = arn.indexOf(':key/');
  return i >= 0 ? arn.slice(i + 1) : arn;
}

function readyText(o: StatusObject): string {
  const r = conditionOf(o, 'Ready');
  return r ? `Ready ${r.status}${r.reason ? ` (${r.reason})` : ''}` : 'Ready -';
}

function workloadLine(w: StatusObject, showNamespace: boolean): string {
  const s = w.status ?? {};
  const current = s['current'] as { keyType?: string; keyArn?: string } | undefined;
  const key = current ? (current.keyType === 'AwsOwned' ? 'AWS_OWNED' : shortKey(current.keyArn)) : '-';
  const ns = showNamespace ? `${w.metadata.namespace}/` : '';
  return `${w.kind}/${ns}${w.metadata.name}  ${(s['awsState'] as string | undefined) ?? '-'}  ${readyText(w)}  key ${key}`;
}

/** The status tree: KmsKeys with the workloads referencing them, then the workloads without one. */
export function renderStatusTree(
  keys: StatusObject[],
  workloads: StatusObject[],
  allNamespaces = false,
): string {
  const lines: string[] = [];
  const byKey = new Map<string, StatusObject[]>();
  const loose: StatusObject[] = [];
  for (const w of workloads) {
    const ref = referencedKmsKey(w as KeyReferencingObject);
    if (!ref) loose.push(w);
    else byKey.set(ref, [...(byKey.get(ref) ?? []), w]);
  }
  const children = (list: StatusObject[]) =>
    list.forEach((w, i) => {
      lines.push(`${i === list.length - 1 ? '└─' : '├─'} ${workloadLine(w, allNamespaces)}`);
    });
  const sorted = [...keys].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  for (const k of sorted) {
    const s = k.status ?? {};
    const rotation = s['rotation'] as { enabled?: boolean; periodInDays?: number } | undefined;
    const rot = rotation
      ? `rotation ${rotation.enabled ? `on${rotation.periodInDays ? ` (${rotation.periodInDays}d)` : ''}` : 'off'}`
      : 'rotation -';
    const summary = (s['workloads'] as { summary?: string } | undefined)?.summary ?? '0/0';
    const name = allNamespaces ? keyOf(k) : k.metadata.name;
    lines.push(
      `KmsKey ${name}  ${shortKey(s['keyArn'] as string | undefined)}  ${(s['keyState'] as string | undefined) ?? '-'}  ${rot}  ${readyText(k)}  workloads ${summary}`,
    );
    children(byKey.get(keyOf(k)) ?? []);
    byKey.delete(keyOf(k));
  }
  // References to KmsKeys outside the listing (another namespace, or missing).
  for (const [ref, list] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`KmsKey ${ref}  (not found in this view)`);
    children(list);
  }
  if (loose.length > 0) {
    lines.push('Without a KmsKey (keyId or AWS owned)');
    children(loose);
  }
  if (lines.length === 0) lines.push('No cmk.io objects found.');
  return `${lines.join('\n')}\n`;
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}

/** What fixes each reason; mirrors docs/runbooks.md. */
export const remedies: Record<string, string[]> = {
  KeyDisabled: [
    'The KMS key is disabled: workloads on it fail, and none is switched onto it.',
    'List who is affected: kubectl cmk usage <name> (status.usedBy names the first 100).',
    'If it was a mistake: aws kms enable-key --key-id <arn>, or set spec.protection.reenable: true on the KmsKey.',
    'If the key is being retired: point the workloads at another KmsKey first (spec.key), wait for Workloads 0/0, then disable it.',
  ],
  KeyPendingDeletion: [
    'The KMS key is scheduled for deletion (status.deletionDate): after the window, data under it is gone for good.',
    'Cancel now: aws kms cancel-key-deletion --key-id <arn>, then aws kms enable-key --key-id <arn> (cancelling leaves it Disabled).',
    'Or set spec.protection: {cancelDeletion: true, reenable: true} on the KmsKey and the operator does both.',
  ],
  KeyNotFound: [
    'No such KMS key in that Region/account: check spec.key.keyId (key ID, ARN or alias), spec.region and spec.roleArn.',
  ],
  KmsKeyNotFound: ['The referenced KmsKey object does not exist: create it or fix spec.key.kmsKeyRef.'],
  KeyPolicyMissingPermission: [
    'The key policy does not let the service use the key: the condition message names the missing principal/action and the statement to add.',
    'Common causes: Flink without infrastructure.kinesisanalytics.amazonaws.com; Keyspaces kms:ViaService naming one Region instead of cassandra.*.amazonaws.com; EMR conditioned on another encryption context.',
  ],
  OutgoingKeyNotUsable: [
    'Managed Flink needs the key it is leaving to stay usable during the switch (snapshots under it): enable it / fix its policy first, then the switch proceeds.',
  ],
  KmsKeyNotReady: [
    'The referenced KmsKey is not usable: fix the KmsKey first (kubectl cmk explain kmskey/<name> says why).',
  ],
  WaitingForApplicationStop: [
    'EMR Serverless changes disk encryption only while CREATED or STOPPED and whenStarted is Wait: stop the application, or set spec.whenStarted: StopAndUpdate.',
  ],
  WaitingForJobs: ['StopAndUpdate waits for running job runs: wait, or cancel the jobs yourself.'],
  WaitingForMaintenanceWindow: [
    'A disruptive step (Flink restart, EMR stop) waits for spec.maintenanceWindow: wait, or widen the window.',
  ],
  SwitchFailed: [
    "AWS accepted the switch but the operation failed; the message has AWS's own text.",
    'Fix the cause; the operator tries again 30 minutes after the failure, or at once if you change the spec.',
  ],
  ClaimedByAnother: [
    "The AWS resource's cmk.io/owner tag names another object or cluster: only one object may manage a resource.",
    'Delete the duplicate object, or remove the tag if the other owner is gone.',
  ],
  ResourceNotFound: [
    'No such application/table in that Region/account: check the name/ID, spec.region and spec.roleArn.',
  ],
  ReferenceNotGranted: [
    'The KmsKey is in another namespace: add a KeyReferenceGrant there whose spec.from lists this namespace (and spec.to the key, or none for all keys).',
  ],
  KeyNotAllowed: [
    "The operator's tenancy configuration does not allow this namespace to use this key: use an allowed key, or ask the operator's admins to extend --tenancy-config.",
  ],
  ResourceNotAllowed: [
    "The operator's tenancy configuration does not allow this namespace to manage this AWS resource: ask the operator's admins to extend --tenancy-config.",
  ],
  InaccessibleEncryptionCredentials: [
    'The Keyspaces table cannot reach its key; AWS deletes the table 7 days after it was first seen inaccessible (status.deletionAfter).',
    'Restore access to the key (enable it, cancel its deletion, or fix its policy); the table returns to ACTIVE. The table cannot be switched until then.',
  ],
  OnDemandRotationLimitExceeded: [
    'KMS caps on-demand rotations per key and the cap cannot be raised; this token is never retried.',
    'Stalled until spec.rotation.onDemandToken changes or is removed; automatic rotation is unaffected.',
  ],
  AliasInUse: [
    'spec.create.alias is held by another key (named in the message); no second key is ever created for it (one made already is in status.creation.keyArn).',
    'Delete or re-point that alias (aws kms delete-alias --alias-name <alias>), or delete this KmsKey and create one with another alias.',
  ],
  KeySearchIncomplete: [
    'A key creation result was lost and the bounded search by the cmk.io/uid tag found nothing: adopt the key tagged with the object UID (spec.keyId), or remove status.creation to create one.',
  ],
  Drift: [
    'Observe mode: AWS differs from the spec and the operator only reports it (status.plan lists what it would do).',
    'To let the operator act, set spec.mode: Enforce.',
  ],
  AccessDenied: [
    "The operator's own IAM role lacks a permission: the message names the API call; add it to the role (or spec.roleArn's role).",
  ],
  KeyPolicyUnreadable: [
    'The operator cannot read the key policy (GetKeyPolicy), so pre-flight fails: allow kms:GetKeyPolicy to the operator role.',
  ],
  Transitioning: ['AWS reports UPDATING/STARTING/STOPPING: wait; the operator polls every few seconds.'],
  RestartPending: [
    'The running Flink storage still uses old key material: set spec.restartAfterRotation: Auto, or restart the application yourself.',
  ],
  SnapshotsDisabled: [
    'The running Flink application must restart to use the rotated key material, but its snapshots are disabled: a restart would lose its state, so the operator never restarts it on its own.',
    'Enable snapshots on the application, restart it yourself, or set spec.restartWithoutSnapshots: true to let the operator restart it anyway.',
  ],
  MaterialUnknown: [
    'The operator could not tell when the key material became current (ListKeyRotations): allow kms:ListKeyRotations on the key to the operator role, or wait for KMS to list the rotation.',
  ],
  KeyPolicyDeniesService: [
    "The key is enabled, but its policy no longer lets some workloads' service use it: the ServiceAccess condition names them and what is missing.",
    'Fix the key policy (docs/key-policies.md lists what each service needs); the workloads show KeyPolicyMissingPermission with the exact statement.',
  ],
  RoleNotAllowed: [
    "spec.roleArn names a role the operator's tenancy rules do not allow in this namespace (allowedRoleArnPatterns); the operator never assumed it.",
    "Use an allowed role, remove spec.roleArn, or ask the operator's admins to allow the role in --tenancy-config.",
  ],
  KeyNotEnabled: [
    'The KMS key is not Enabled (pending import, or its custom key store is disconnected): import its key material, or reconnect the key store.',
  ],
  KeyInUse: [
    'The key is still used: the condition names the workloads (any namespace, any way of naming the key) and KmsKeys; move them to another key, or set deletionPolicy: Retain to keep the key and let the object go.',
  ],
  AuthorityHeldByAnother: [
    'Another KmsKey holds the authority to schedule this key’s deletion (it created the key, or is older): set deletionPolicy: Retain here, or change the holder named in the condition.',
  ],
  KmsUnavailable: ['KMS did not answer (throttling, 5xx or network): the operator retries with backoff.'],
  AwsUnavailable: ['AWS did not answer (throttling, 5xx or network): the operator retries with backoff.'],
  SessionTerminated: [
    'AWS ended the interactive session (its idle timeout, or terminated outside the operator); a session is never restarted.',
    'Create a new EmrServerlessSession (or delete and re-create this one).',
  ],
  SessionFailed: [
    "The session failed; status.stateDetails has AWS's text (a disabled key fails a live session at once).",
    'Fix the cause, then create a new EmrServerlessSession.',
  ],
  SessionNotFound: [
    'The recorded session no longer exists (was its application deleted?): check the application, then create a new session.',
  ],
  ClientTokenConflict: [
    "AWS refused the object's idempotency token: something was started for it with other parameters (its key changed mid-start).",
    'Find it (aws emr-serverless list-sessions / list-job-runs --application-id <id>), stop it if unwanted, then re-create the object.',
  ],
};

/** The runbook lines for a reason, or a pointer when the table has none. */
export function remedyFor(reason: string): string[] {
  return (
    remedies[reason] ?? [
      `No runbook entry for ${reason}: see the condition message, kubectl describe (Events) and docs/runbooks.md.`,
    ]
  );
}

const healthyReasons = new Set(['OnDesiredKey', 'Succeeded', 'Ready', 'Current', 'PreflightPassed']);

/** Reasons worth a remedy: Ready when not True, Stalled/Reconciling when True, domain conditions not True. */
export function problemReasons(o: StatusObject): string[] {
  const reasons: string[] = [];
  for (const c of o.status?.conditions ?? []) {
    const problem =
      c.type === 'Stalled' || c.type === 'Reconciling' ? c.status === 'True' : c.status !== 'True';
    if (problem && c.reason && !healthyReasons.has(c.reason) && !reasons.includes(c.reason))
      reasons.push(c.reason);
  }
  return reasons;
}

/** Why `o` is (not) Ready and what fixes it; `referenced` is the KmsKey a workload references. */
export function renderExplain(o: StatusObject, referenced?: StatusObject): string {
  const lines: string[] = [`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`];
  const ready = conditionOf(o, 'Ready');
  lines.push(ready ? `  ${readyText(o)}: ${ready.message}` : '  no status yet: is the operator running?');
  lines.push('Conditions:');
  for (const c of o.status?.conditions ?? [])
    lines.push(`  ${c.type.padEnd(16)} ${c.status.padEnd(7)} ${c.reason.padEnd(28)} ${c.message}`);
  const reasons = problemReasons(o);
  const referencedReasons = referenced ? problemReasons(referenced) : [];
  if (referenced) {
    lines.push(`Referenced KmsKey ${keyOf(referenced)}: ${readyText(referenced)}`);
    for (const c of referenced.status?.conditions ?? [])
      if (c.status !== 'True' || c.type === 'Stalled')
        lines.push(`  ${c.type.padEnd(16)} ${c.status.padEnd(7)} ${c.reason.padEnd(28)} ${c.message}`);
  }
  const all = [...reasons, ...referencedReasons.filter((r) => !reasons.includes(r))];
  if (all.length > 0) {
    lines.push('What to do:');
    for (const r of all) {
      lines.push(`  ${r}:`);
      for (const l of remedyFor(r)) lines.push(`    - ${l}`);
    }
  } else if (ready?.status === 'True') {
    lines.push('Nothing to do: Ready.');
  }
  const plan = o.status?.['plan'] as string[] | undefined;
  if (plan && plan.length > 0) {
    lines.push('Plan (status.plan):');
    for (const l of plan) lines.push(`  - ${l}`);
  }
  const pending = (o.status?.['workloads'] as { pending?: Array<Record<string, string>> } | undefined)
    ?.pending;
  if (pending && pending.length > 0) {
    lines.push('Pending workloads:');
    for (const p of pending) lines.push(`  - ${p['kind']}/${p['namespace']}/${p['name']}: ${p['reason']}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What planWorkload decided, for one workload; `cql`, for a KeyspacesTable, is the same key change as
 * a CQL statement a DBA can run (keyspacesPlanCql).
 */
export function renderPlan(o: StatusObject, plan: WorkloadPlan, cql?: string): string {
  const spec = (o.spec ?? {}) as { mode?: string };
  const mode = spec.mode ?? 'Enforce';
  const lines = [
    `${o.kind}/${o.metadata.name} in ${o.metadata.namespace} (${mode}${mode === 'Observe' ? ': the operator reports, it does not act' : ''})`,
  ];
  if (plan.actions.length === 0) lines.push('  actions: none');
  else {
    lines.push('  actions:');
    for (const a of plan.actions) {
      const detail =
        a.type === 'ChangeKey'
          ? `${keyLabel(a.from)} -> ${keyLabel(a.to)}`
          : a.type === 'Stop' || a.type === 'Start'
            ? a.why
            : a.type === 'Claim'
              ? JSON.stringify(a.tags)
              : a.type === 'Release'
                ? a.tagKeys.join(',')
                : '';
      lines.push(`    - ${a.type}${detail ? ` ${detail}` : ''}`);
    }
  }
  if (plan.lines.length > 0) {
    lines.push('  plan:');
    for (const l of plan.lines) lines.push(`    - ${l}`);
  }
  const outcome = plan.outcome as { kind: string; reason?: string; message?: string };
  lines.push(
    `  outcome: ${outcome.kind}${outcome.reason ? ` ${outcome.reason}` : ''}${outcome.message ? `: ${outcome.message}` : ''}`,
  );
  for (const c of plan.conditions) lines.push(`  ${c.type} ${c.status} ${c.reason}: ${c.message ?? ''}`);
  if (cql) lines.push('  cql (the same key change, for cqlsh):', `    ${cql}`);
  return `${lines.join('\n')}\n`;
}

// ---- kinds -----------------------------------------------------------------------------------

const typesByKind: Record<string, ResourceType> = Object.fromEntries(
  Object.values(cmkResources).map((t) => [t.kind, t]),
);

/** The resource type a kubectl-style kind name (kind, plural, singular, short, with .cmk.io) names. */
export function resolveKind(name: string): ResourceType | undefined {
  const n = name.toLowerCase().replace(/\.cmk\.io$/, '');
  const def = kinds.find(
    (k) => k.kind.toLowerCase() === n || k.plural === n || k.singular === n || k.shortNames.includes(n),
  );
  return def ? typesByKind[def.kind] : undefined;
}

function parseTarget(positionals: string[]): { type: ResourceType; name: string } | string {
  const [first, second] = positionals;
  if (!first) return 'KIND/NAME is required';
  const [kindName, name] = first.includes('/') ? first.split('/', 2) : [first, second];
  const type = resolveKind(kindName ?? '');
  if (!type) return `unknown kind "${kindName}"`;
  if (!name) return 'NAME is required (KIND/NAME)';
  return { type, name };
}

// ---- commands --------------------------------------------------------------------------------

interface Globals {
  kube: KubeClient;
  namespace: string;
  all: boolean;
  io: CliIo;
  values: Record<string, string | boolean | undefined>;
}

const withKind = <T extends KubeObject>(o: T, type: ResourceType): T & { kind: string } => ({
  ...o,
  kind: o.kind ?? type.kind,
});

async function listAll<T extends KubeObject>(
  g: Globals,
  type: ResourceType,
): Promise<Array<T & { kind: string }>> {
  const list = await g.kube.list<T>(type, g.all ? {} : { namespace: g.namespace });
  return list.items.map((o) => withKind(o, type));
}

async function statusCommand(g: Globals): Promise<number> {
  const keys = await listAll<KmsKeyObject>(g, cmkResources.kmsKey);
  const workloads = (
    await Promise.all(referencingResources.map((t) => listAll<KeyReferencingObject>(g, t)))
  ).flat();
  g.io.out(renderStatusTree(keys as StatusObject[], workloads as StatusObject[], g.all));
  const notReady = [...keys, ...workloads].some(
    (o) => conditionOf(o as StatusObject, 'Ready')?.status !== 'True',
  );
  return notReady ? 1 : 0;
}

export function defaultRotationToken(now: Date): string {
  return `rotate-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

async function rotateCommand(g: Globals, positionals: string[]): Promise<number> {
  const name = positionals[0]?.replace(/^(kmskey|kmskeys|kk)\//, '');
  if (!name) {
    g.io.err(`rotate: KEY (a KmsKey name) is required\n\n${help}`);
    return 2;
  }
  const ref = { namespace: g.namespace, name };
  try {
    await g.kube.get<KmsKeyObject>(cmkResources.kmsKey, ref);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    g.io.err(
      `KmsKey ${name} does not exist in namespace ${g.namespace}: nothing rotated (kubectl get kmskeys -n ${g.namespace})\n`,
    );
    return 1;
  }
  const token = (g.values['token'] as string | undefined) ?? defaultRotationToken(new Date());
  await g.kube.mergePatch(
    cmkResources.kmsKey,
    ref,
    { spec: { rotation: { onDemandToken: token } } },
    { fieldManager: 'kubectl-cmk' },
  );
  g.io.out(
    `KmsKey ${g.namespace}/${name}: on-demand rotation requested, token ${token}\n` +
      `watch:  kubectl get kmskey ${name} -n ${g.namespace} -w\n` +
      `done when status.rotation.lastOnDemandToken is ${token}: ` +
      `kubectl get kmskey ${name} -n ${g.namespace} -o jsonpath='{.status.rotation.lastOnDemandToken}'\n`,
  );
  return 0;
}

async function explainCommand(g: Globals, positionals: string[]): Promise<number> {
  const target = parseTarget(positionals);
  if (typeof target === 'string') {
    g.io.err(`explain: ${target}\n\n${help}`);
    return 2;
  }
  let o: StatusObject;
  try {
    o = withKind(
      await g.kube.get<StatusObject>(target.type, { namespace: g.namespace, name: target.name }),
      target.type,
    );
  } catch (e) {
    if (!isNotFound(e)) throw e;
    g.io.err(`${target.type.kind} ${target.name} does not exist in namespace ${g.namespace}\n`);
    return 1;
  }
  let referenced: StatusObject | undefined;
  const ref = target.type === cmkResources.kmsKey ? undefined : referencedKmsKey(o as KeyReferencingObject);
  if (ref && conditionOf(o, 'Ready')?.status !== 'True') {
    const [namespace, name] = ref.split('/') as [string, string];
    referenced = await g.kube
      .get<StatusObject>(cmkResources.kmsKey, { namespace, name })
      .then((k) => withKind(k, cmkResources.kmsKey))
      .catch(() => undefined);
  }
  g.io.out(renderExplain(o, referenced));
  return conditionOf(o, 'Ready')?.status === 'True' ? 0 : 1;
}

/** Events from a plan run go nowhere: planning never writes to Kubernetes. */
const discardEvents: EventRecorder = {
  record: () => {},
  flush: async () => {},
  dropped: () => 0,
  close: () => {},
};

async function planCommand(g: Globals, positionals: string[]): Promise<number> {
  let targets: Array<{ kind: WorkloadKind; object: WorkloadObject }> = [];
  if (positionals.length > 0) {
    const target = parseTarget(positionals);
    if (typeof target === 'string') {
      g.io.err(`plan: ${target}\n\n${help}`);
      return 2;
    }
    const kind = workloadKinds.find((k) => k.type === target.type);
    if (!kind) {
      g.io.err(
        `plan: ${target.type.kind} is not planned by the workload reconciler (FlinkApplication, KeyspacesTable, EmrServerlessApplication)\n`,
      );
      return 2;
    }
    try {
      const object = await g.kube.get<WorkloadObject>(kind.type, {
        namespace: g.namespace,
        name: target.name,
      });
      targets.push({ kind, object: withKind(object, kind.type) });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      g.io.err(`${kind.type.kind} ${target.name} does not exist in namespace ${g.namespace}\n`);
      return 1;
    }
  } else {
    for (const kind of workloadKinds)
      for (const object of await listAll<WorkloadObject>(g, kind.type)) targets.push({ kind, object });
    targets = targets.sort((a, b) => keyOf(a.object).localeCompare(keyOf(b.object)));
  }
  const region =
    (g.values['region'] as string | undefined) ??
    process.env['AWS_REGION'] ??
    process.env['AWS_DEFAULT_REGION'];
  if (!region) {
    g.io.err('plan: no AWS Region: pass --region or set AWS_REGION\n');
    return 2;
  }
  if (targets.length === 0) {
    g.io.out('No workloads to plan.\n');
    return 0;
  }
  let tenancy: TenancyRules | undefined;
  const tenancyFile = g.values['tenancy-config'] as string | undefined;
  if (tenancyFile) {
    try {
      tenancy = loadTenancyRules(tenancyFile);
    } catch (e) {
      g.io.err(`plan: --tenancy-config: ${(e as Error).message}\n`);
      return 2;
    }
  }

  // KmsKeys and grants by kube GET/LIST (the operator reads them from its informers).
  const kmsKeys = new Map<string, KmsKeyObject>();
  const grants = new Map<string, KeyReferenceGrantObject[]>();
  for (const { object } of targets) {
    const ref = referencedKmsKey(object as KeyReferencingObject);
    if (!ref || kmsKeys.has(ref)) continue;
    const [namespace, name] = ref.split('/') as [string, string];
    const key = await g.kube
      .get<KmsKeyObject>(cmkResources.kmsKey, { namespace, name })
      .catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
    if (key) kmsKeys.set(ref, key);
    if (namespace !== object.metadata.namespace && !grants.has(namespace))
      grants.set(
        namespace,
        (await g.kube.list<KeyReferenceGrantObject>(cmkResources.keyReferenceGrant, { namespace })).items,
      );
  }

  const clusterFlag = g.values['cluster-name'] as string | undefined;
  const aws = createAwsClients({
    sessionName: 'kubectl-cmk-plan',
    ...(g.io.awsCredentials ? { credentials: g.io.awsCredentials } : {}),
    // The operator's session tags, so a tenant role's trust policy treats the plan as it would the operator.
    ...(clusterFlag ? { clusterName: clusterFlag } : {}),
  });
  let failed = false;
  try {
    const callerIdentity = callerIdentityCache(aws);
    // One read per key for the whole command, fresh from KMS.
    const keys = createKeyCache(aws, { ttlMs: 60_000 });
    for (const { kind, object } of targets) {
      const input = await observeWorkload(
        {
          aws,
          keys,
          events: discardEvents,
          kind,
          getKmsKey: (k) => kmsKeys.get(k),
          referenceGranted: (from, keyNs, keyName) =>
            referenceGranted(grants.get(keyNs) ?? [], from, keyNs, keyName),
          callerIdentity,
          policyPreflight: keyPolicyPreflight,
          defaultRegion: region,
          clusterName: clusterFlag ?? 'cluster',
          ...(tenancy ? { tenancy } : {}),
          now: Date.now,
        },
        object,
      );
      // Without --cluster-name, plan as the operator whose claim the resource carries.
      const tag = input.observed.kind === 'found' ? input.observed.state.tags[ownerTag] : undefined;
      if (!clusterFlag && tag?.endsWith(`/${object.metadata.namespace}/${object.metadata.name}`))
        input.claim = tag;
      const plan = planWorkload(input);
      // Drift in Observe mode is what plan is for, not a failure; anything else stalled is.
      const stalled = plan.outcome.kind === 'stalled' && plan.outcome.reason !== 'Drift';
      if (input.observed.kind === 'error' || stalled) failed = true;
      const cql = keyspacesPlanCql(input, plan, object.spec);
      g.io.out(renderPlan(object as StatusObject, plan, cql));
    }
  } finally {
    aws.destroy();
  }
  return failed ? 1 : 0;
}

async function usageCommand(g: Globals, positionals: string[]): Promise<number> {
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) {
    g.io.err(`usage: one KmsKey name\n\n${help}`);
    return 2;
  }
  const keyName = name.replace(/^(kmskey|kk)\//i, '');
  let scan: { aws: ReturnType<typeof createAwsClients>; region: string } | undefined;
  if (g.values['scan']) {
    const region =
      (g.values['region'] as string | undefined) ??
      process.env['AWS_REGION'] ??
      process.env['AWS_DEFAULT_REGION'];
    if (!region) {
      g.io.err('usage --scan: no AWS Region: pass --region or set AWS_REGION\n');
      return 2;
    }
    scan = {
      aws: createAwsClients({
        sessionName: 'kubectl-cmk-usage',
        ...(g.io.awsCredentials ? { credentials: g.io.awsCredentials } : {}),
      }),
      region,
    };
  }
  try {
    const result = await keyUsage({
      kube: g.kube,
      namespace: g.namespace,
      name: keyName,
      ...(scan ? { scan } : {}),
    });
    if (typeof result === 'string') {
      g.io.err(`${result}\n`);
      return 1;
    }
    g.io.out(renderUsage(result.keyArn, result.rows));
    return 0;
  } catch (e) {
    if (!isNotFound(e)) throw e;
    g.io.err(`KmsKey ${keyName} does not exist in namespace ${g.namespace}\n`);
    return 1;
  } finally {
    scan?.aws.destroy();
  }
}

/** `kubectl cmk ...`: returns the exit code. */
export async function kubectlCmkCommand(args: string[], io: CliIo = processIo): Promise<number> {
  // import reads AWS only and declares its own flags.
  if (args[0] === 'import') return importCommand(args.slice(1), io);
  const parsed = cli.parse(args, io);
  if (!parsed.ok) return parsed.exitCode;
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (command === 'help') {
    io.out(help);
    return 0;
  }
  if (command === 'version') {
    if (rest.length > 0) {
      io.err(`kubectl cmk version: takes no arguments\n\n${help}`);
      return 2;
    }
    io.out(versionText(buildInfo(), process.version));
    return 0;
  }
  if (command === 'import') {
    io.err('kubectl cmk import takes its options after the word import: kubectl cmk import --help\n');
    return 2;
  }
  if (!command || !['status', 'rotate', 'explain', 'plan', 'usage'].includes(command)) {
    io.err(`${command ? `kubectl cmk: unknown command "${command}"\n\n` : ''}${help}`);
    return 2;
  }
  const all = values['all-namespaces'];
  if (all && (command === 'rotate' || command === 'explain' || (command === 'plan' && rest.length > 0))) {
    io.err(`kubectl cmk ${command}: -A/--all-namespaces applies to status and plan without a target\n`);
    return 2;
  }
  try {
    // A kubectl plugin reads kubeconfigs the way kubectl does (several KUBECONFIG files merged, exec
    // plugins such as `aws eks get-token`): client-node's loader, not the operator's lean one.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
    else kc.loadFromDefault();
    const access = kubeAccessOf(kc);
    const g: Globals = {
      kube: io.kube ?? createKubeClient(access, { userAgent: 'kubectl-cmk' }),
      namespace: values.namespace ?? access.namespace ?? 'default',
      all,
      io,
      values,
    };
    switch (command) {
      case 'status':
        return await statusCommand(g);
      case 'rotate':
        return await rotateCommand(g, rest);
      case 'explain':
        return await explainCommand(g, rest);
      case 'usage':
        return await usageCommand(g, rest);
      default:
        return await planCommand(g, rest);
    }
  } catch (e) {
    io.err(`kubectl cmk ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}
