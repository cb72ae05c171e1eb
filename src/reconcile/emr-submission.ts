// What an EmrServerlessJobRun and an EmrServerlessSession share before their one-shot start call
// (StartJobRun, StartSession): where they run (their application, Region and role, following the
// EmrServerlessApplication object they reference), which key their disks use (their own spec.key,
// else the application object's key, resolved exactly as the application's own reconciler does) and
// whether that key passes pre-flight; then, purely, whether the start may go ahead.
//
// Guarantees:
// - observeSubmission never throws (key resolution and pre-flight never do) and writes nothing.
// - gateSubmission is pure: the start goes ahead only with a resolved application and key and, for a
//   customer managed key, a passing pre-flight (safety invariant 1); otherwise it says why, as the
//   KeyUsable condition and the outcome (stalled for what only a person can fix, else waiting).

import type { KeyReference } from '../api/shared.ts';
import type { AwsTarget } from '../aws/clients.ts';
import type { EncryptionSetting } from '../aws/workload.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { type KeyResolutionDeps, type PreflightDeps, preflightKey, resolveKey } from './key-resolution.ts';
import { type DesiredCondition, type PlanOutcome, resync } from './types.ts';
import type { DesiredKey, Preflight } from './workload-plan.ts';

/** The idempotency token of an object's one start call: stable for its lifetime, unique per object. */
export function clientTokenFor(uid: string): string {
  return `cmk-${uid}`;
}

/** `RUNNING` -> `Running`: a CamelCase condition reason from an AWS state. */
export function reasonOf(state: string): string {
  const words = state
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const camel = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return /^[A-Za-z]/.test(camel) ? camel : 'Unknown';
}

/** The application the job or session runs on, from spec.applicationId or the referenced object. */
export type ApplicationResolution =
  | { kind: 'resolved'; applicationId: string }
  | { kind: 'unresolved'; reason: string; message: string; terminal: boolean };

/**
 * Where the disk key comes from: the object's own spec.key, its EmrServerlessApplication object's
 * key, or nowhere (spec.applicationId and no spec.key: no override, AWS applies the application's).
 */
export type KeySource = 'own' | 'application' | 'none';

/** What the object's spec says about where it runs and on which key. */
export interface SubmissionSpec {
  applicationRef?: { name: string } | undefined;
  applicationId?: string | undefined;
  region?: string | undefined;
  roleArn?: string | undefined;
  key?: KeyReference | undefined;
  encryptionContext?: Record<string, string> | undefined;
}

/** The EmrServerlessApplication object as the job-run and session reconcilers read it. */
export interface EmrApplicationObject extends KubeObject {
  spec: {
    applicationId?: string | undefined;
    region?: string | undefined;
    roleArn?: string | undefined;
    key: KeyReference;
    encryptionContext?: Record<string, string> | undefined;
  };
}

export interface SubmissionDeps extends KeyResolutionDeps, PreflightDeps {
  getApplication(key: string): EmrApplicationObject | undefined;
  defaultRegion: string;
}

/** The inputs gateSubmission decides on. */
export interface SubmissionInputs {
  application: ApplicationResolution;
  keySource: KeySource;
  desired: DesiredKey;
  /** The pre-flight verdict for a customer managed key; undefined when none was needed. */
  preflight: Preflight | undefined;
}

const emrApplicationArn = (region: string, accountId: string, applicationId: string) =>
  `arn:aws:emr-serverless:${region}:${accountId}:/applications/${applicationId}`;

/** The application object `spec` references, and the AWS target the object's calls go to. */
export function submissionContext(
  deps: Pick<SubmissionDeps, 'getApplication' | 'defaultRegion'>,
  object: KubeObject & { spec: SubmissionSpec },
): { app: EmrApplicationObject | undefined; target: AwsTarget } {
  const { spec } = object;
  const ns = object.metadata.namespace ?? '';
  const app = spec.applicationRef ? deps.getApplication(`${ns}/${spec.applicationRef.name}`) : undefined;
  // It runs where its application is: an unset region or role follows the application object.
  const region = spec.region ?? app?.spec.region ?? deps.defaultRegion;
  const roleArn = spec.roleArn ?? app?.spec.roleArn;
  return { app, target: { region, ...(roleArn ? { roleArn, namespace: ns } : {}) } };
}

export const notNeeded = { kind: 'unresolved', reason: 'NotNeeded', message: '', terminal: false } as const;

/** The application, the key and the pre-flight verdict, read fresh (a start is a one-shot action). */
export async function observeSubmission(
  deps: SubmissionDeps,
  object: KubeObject & { spec: SubmissionSpec },
  target: AwsTarget,
  app: EmrApplicationObject | undefined,
): Promise<SubmissionInputs> {
  const { spec } = object;
  const ns = object.metadata.namespace ?? '';
  const inputs: SubmissionInputs = {
    application: notNeeded,
    keySource: spec.key ? 'own' : spec.applicationRef ? 'application' : 'none',
    desired: notNeeded,
    preflight: undefined,
  };
  const applicationId = spec.applicationId ?? app?.spec.applicationId;
  if (!applicationId) {
    inputs.application = {
      kind: 'unresolved',
      reason: 'ApplicationNotFound',
      message: `EmrServerlessApplication ${ns}/${spec.applicationRef?.name} does not exist`,
      terminal: false,
    };
    return inputs;
  }
  inputs.application = { kind: 'resolved', applicationId };

  const resolveAndCheck = async (
    key: KeyReference,
    encryptionContext: Record<string, string> | undefined,
  ): Promise<DesiredKey> => {
    // Read from KMS, not the cache: a start is a one-shot action (few of them, each read once).
    const { desired, facts } = await resolveKey(deps, {
      namespace: ns,
      key,
      encryptionContext,
      target,
      fresh: true,
    });
    if (desired.kind === 'resolved' && desired.setting.type === 'CustomerManaged') {
      inputs.preflight = await preflightKey(deps, {
        service: 'EmrServerless',
        id: { service: 'EmrServerless', applicationId },
        facts,
        setting: desired.setting,
        target,
        resourceArn: (accountId) => emrApplicationArn(target.region, accountId, applicationId),
        fresh: true,
      });
    }
    return desired;
  };

  if (spec.key) {
    inputs.desired = await resolveAndCheck(spec.key, spec.encryptionContext);
  } else if (app) {
    // The application's desired key, resolved exactly as its own reconciler resolves it; the
    // object's context, when set, replaces the application's (the override is one object).
    inputs.desired = await resolveAndCheck(
      app.spec.key,
      spec.encryptionContext ?? app.spec.encryptionContext,
    );
  } else {
    inputs.desired = { kind: 'resolved', setting: { type: 'AwsOwned' } };
  }
  return inputs;
}

/** How the start is worded in conditions: 'submitting' a 'job', 'starting' a 'session'. */
export interface SubmissionWords {
  /** 'not submitting: ...' */
  verb: string;
  /** 'the job carries no override' */
  noun: string;
}

export type SubmissionGate =
  | { kind: 'go'; applicationId: string; setting: EncryptionSetting }
  | { kind: 'blocked'; outcome: PlanOutcome; requeueAfterMs: number };

/**
 * Whether the start may go ahead, pushing the KeyUsable condition it decided onto `conditions`.
 * Pure.
 */
export function gateSubmission(
  input: SubmissionInputs,
  words: SubmissionWords,
  conditions: DesiredCondition[],
): SubmissionGate {
  const blocked = (u: { reason: string; message: string; terminal: boolean }): SubmissionGate => ({
    kind: 'blocked',
    outcome: u.terminal
      ? { kind: 'stalled', reason: u.reason, message: u.message }
      : { kind: 'waiting', reason: u.reason, message: u.message, retryAfterMs: resync.slowMs },
    requeueAfterMs: resync.slowMs,
  });
  const app = input.application;
  if (app.kind === 'unresolved') return blocked(app);
  const desired = input.desired;
  if (desired.kind === 'unresolved') {
    conditions.push({ type: 'KeyUsable', status: 'False', reason: desired.reason, message: desired.message });
    return blocked(desired);
  }
  const setting = desired.setting;
  if (setting.type === 'CustomerManaged' && input.preflight && !input.preflight.ok) {
    // Refused before the start; tried again when the key (or its KmsKey) changes, or on resync.
    const message = `not ${words.verb}: ${input.preflight.message}`;
    conditions.push({ type: 'KeyUsable', status: 'False', reason: input.preflight.reason, message });
    return blocked({ reason: input.preflight.reason, message, terminal: true });
  }
  conditions.push(keyUsable(setting, input.keySource, words.noun));
  return { kind: 'go', applicationId: app.applicationId, setting };
}

function keyUsable(setting: EncryptionSetting, source: KeySource, noun: string): DesiredCondition {
  if (source === 'none')
    return {
      type: 'KeyUsable',
      status: 'True',
      reason: 'ApplicationConfiguration',
      message: `no spec.key and no EmrServerlessApplication object: the ${noun} carries no override and uses the application configuration AWS has`,
    };
  if (setting.type === 'AwsOwned')
    return {
      type: 'KeyUsable',
      status: 'True',
      reason: 'AwsOwnedKey',
      message: `the AWS owned key: the ${noun} carries no override and inherits the application's configuration (a ${noun} cannot opt out of an application CMK)`,
    };
  const from = source === 'own' ? 'its own key' : "its application's key";
  return {
    type: 'KeyUsable',
    status: 'True',
    reason: 'PreflightPassed',
    message: `${from} ${setting.keyArn} passes pre-flight`,
  };
}
