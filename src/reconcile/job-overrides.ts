// The job-override ConfigMap of an EmrServerlessApplication (spec.jobOverridesConfigMap): the
// job-level disk encryption for the application's desired key, published for pipelines that submit
// EMR Serverless jobs themselves (Airflow, Step Functions, spark-submit wrappers). A job-level
// override beats the application setting (EMR-003, TRAP-13), so a pipeline that copies these values
// into every StartJobRun / Livy session runs on the key the manifest declares even while the
// application itself still waits for a stop to switch.
//
// Data keys (each always present, so a consumer never has to guess):
//   configurationOverrides.json  StartJobRun `configurationOverrides`:
//                                {"diskEncryptionConfiguration": {"encryptionKeyArn": ..., "encryptionContext": {...}}}
//   spark-defaults.conf          `spark.emr-serverless.disk.encryptionKeyArn <arn>` and, with a context,
//                                `spark.emr-serverless.disk.encryptionContext k1:v1,k2:v2` (EMR-008)
//   livy-session-conf.json       the same two keys as a Livy session `conf` map
// For the AWS owned key the override is empty: `{}`, an empty file, `{}`. Pipelines should still
// pass it (merging `{}` changes nothing): a job cannot opt out of an application's CMK, and without
// an override the job inherits the application's configuration, which the operator moves to the
// AWS owned key. Pipelines must not keep a cached older ARN: an empty override means "no key of
// your own", not "unknown".
//
// Guarantees:
// - Published only for a desired key that resolved and passed pre-flight (safety invariant 1: never
//   steer jobs onto a key that fails it), only in Enforce mode (Observe changes nothing), and never
//   while the application object is being deleted (the ConfigMap goes with it: ownerReference).
// - Written with server-side apply (field manager cmk-operator) only when its content, the
//   desired-key annotation or the controller ownerReference differ from what is stored; other data
//   keys and fields that other managers own are left alone.
// - A ConfigMap of that name controlled by another object is never taken over; one without a
//   controller (created by hand, say) is adopted: the user named it in the spec.
// - publishJobOverrides never throws: a failure is a Warning Event and a log line, and the next
//   reconcile tries again, so publishing cannot block the application's own key management.
// Never deletes a ConfigMap (a renamed spec.jobOverridesConfigMap leaves the old one until the
// application object is deleted and the garbage collector removes it).

import type { Logger } from 'pino';
import { apiVersion } from '../api/shared.ts';
import { jobOverrides, sparkConfKeys } from '../aws/emr-serverless.ts';
import { AwsCallError } from '../aws/errors.ts';
import type { EncryptionSetting } from '../aws/workload.ts';
import type { EventRecorder } from '../runtime/events.ts';
import {
  isNotFound,
  type KubeClient,
  type KubeObject,
  type ResourceType,
  resourceTypes,
} from '../runtime/kube.ts';
import { type DesiredKey, keyLabel, type Preflight } from './workload-plan.ts';

export const jobOverridesFieldManager = 'cmk-operator';
export const desiredKeyAnnotation = 'cmk.io/desired-key';
export const jobOverridesDataKeys = {
  configurationOverrides: 'configurationOverrides.json',
  sparkDefaults: 'spark-defaults.conf',
  livySessionConf: 'livy-session-conf.json',
} as const;
const managedBy = { 'app.kubernetes.io/managed-by': 'cmk-operator' };

/**
 * The ConfigMap data for `setting`. Pure. Throws an AwsCallError (cause InvalidSpec) when the
 * encryption context cannot be written as Spark conf (a `,` or `:` in a pair; see jobOverrides()).
 */
export function renderJobOverrides(setting: EncryptionSetting): Record<string, string> {
  const { configurationOverrides, sparkConf } = jobOverrides(setting);
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  // Fixed order: the key ARN first, then the context (what spark-defaults readers expect to see).
  const lines = [sparkConfKeys.keyArn, sparkConfKeys.context]
    .filter((k) => sparkConf[k] !== undefined)
    .map((k) => `${k} ${sparkConf[k]}\n`)
    .join('');
  return {
    [jobOverridesDataKeys.configurationOverrides]: json(configurationOverrides),
    [jobOverridesDataKeys.sparkDefaults]: lines,
    [jobOverridesDataKeys.livySessionConf]: json(sparkConf),
  };
}

export interface JobOverridesOwner {
  type: ResourceType;
  object: KubeObject;
}

export interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

/** The ConfigMap as this operator applies it: only the fields it owns. Pure. */
export function jobOverridesConfigMap(
  owner: JobOverridesOwner,
  name: string,
  setting: EncryptionSetting,
): ConfigMapObject & { data: Record<string, string> } {
  const { metadata } = owner.object;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: metadata.namespace ?? '',
      labels: { ...managedBy },
      annotations: { [desiredKeyAnnotation]: keyLabel(setting) },
      ownerReferences: [
        {
          apiVersion,
          kind: owner.type.kind,
          name: metadata.name,
          uid: metadata.uid ?? '',
          controller: true,
        },
      ],
    },
    data: renderJobOverrides(setting),
  };
}

export type JobOverridesDecision =
  | { kind: 'publish'; setting: EncryptionSetting }
  | { kind: 'skip'; why: string };

/** Whether to publish now, and for which key. Pure. */
export function jobOverridesDecision(input: {
  mode: 'Enforce' | 'Observe' | undefined;
  deleting: boolean;
  desired: DesiredKey;
  preflight: Preflight | undefined;
}): JobOverridesDecision {
  if (input.deleting) return { kind: 'skip', why: 'the application object is being deleted' };
  if ((input.mode ?? 'Enforce') === 'Observe') return { kind: 'skip', why: 'Observe mode changes nothing' };
  if (input.desired.kind === 'unresolved')
    return { kind: 'skip', why: `the desired key is unresolved: ${input.desired.message}` };
  if (input.preflight && !input.preflight.ok)
    return { kind: 'skip', why: `the desired key fails pre-flight: ${input.preflight.message}` };
  return { kind: 'publish', setting: input.desired.setting };
}

type OwnerReference = { uid?: unknown; controller?: unknown; kind?: unknown; name?: unknown };

/** Another object's controller ownerReference on the ConfigMap, if any. */
export function foreignController(existing: KubeObject, ownerUid: string): OwnerReference | undefined {
  return (existing.metadata.ownerReferences as OwnerReference[] | undefined)?.find(
    (r) => r.controller === true && r.uid !== ownerUid,
  );
}

/** Whether the stored ConfigMap already carries everything `desired` applies. Pure. */
export function upToDate(
  existing: ConfigMapObject,
  desired: ReturnType<typeof jobOverridesConfigMap>,
): boolean {
  const owner = desired.metadata.ownerReferences?.[0] as OwnerReference;
  const ours = (existing.metadata.ownerReferences as OwnerReference[] | undefined)?.some(
    (r) => r.uid === owner.uid && r.controller === true,
  );
  const has = (stored: Record<string, string> | undefined, want: Record<string, string> | undefined) =>
    Object.entries(want ?? {}).every(([k, v]) => stored?.[k] === v);
  return (
    Boolean(ours) &&
    has(existing.data, desired.data) &&
    has(existing.metadata.labels, desired.metadata.labels) &&
    has(existing.metadata.annotations, desired.metadata.annotations)
  );
}

export interface JobOverridesDeps {
  kube: Pick<KubeClient, 'get' | 'apply'>;
  events: EventRecorder;
  log: Logger;
}

export interface JobOverridesInput {
  owner: JobOverridesOwner;
  configMapName: string;
  mode: 'Enforce' | 'Observe' | undefined;
  desired: DesiredKey;
  preflight: Preflight | undefined;
  signal?: AbortSignal;
}

export type JobOverridesOutcome = 'published' | 'unchanged' | 'skipped' | 'refused' | 'failed';

/** Publishes the overrides when they changed. Never throws (see the module comment). */
export async function publishJobOverrides(
  deps: JobOverridesDeps,
  input: JobOverridesInput,
): Promise<JobOverridesOutcome> {
  const { owner, configMapName: name } = input;
  const namespace = owner.object.metadata.namespace ?? '';
  const warn = (reason: string, note: string) =>
    deps.events.record(owner, { type: 'Warning', reason, action: 'PublishJobOverrides', note });
  const decision = jobOverridesDecision({
    mode: input.mode,
    deleting: Boolean(owner.object.metadata.deletionTimestamp),
    desired: input.desired,
    preflight: input.preflight,
  });
  if (decision.kind === 'skip') {
    deps.log.debug({ configMap: name, why: decision.why }, 'job overrides not published');
    return 'skipped';
  }
  let desired: ReturnType<typeof jobOverridesConfigMap>;
  try {
    desired = jobOverridesConfigMap(owner, name, decision.setting);
  } catch (e) {
    if (!(e instanceof AwsCallError)) throw e;
    warn('JobOverridesNotPublished', `ConfigMap ${name} not updated: ${e.failure.message}`);
    return 'refused';
  }
  const signal = input.signal ? { signal: input.signal } : {};
  try {
    let existing: ConfigMapObject | undefined;
    try {
      existing = await deps.kube.get<ConfigMapObject>(resourceTypes.configMap, { namespace, name }, signal);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (existing) {
      const other = foreignController(existing, owner.object.metadata.uid ?? '');
      if (other) {
        warn(
          'JobOverridesConflict',
          `ConfigMap ${name} is controlled by ${String(other.kind)}/${String(other.name)}: choose another spec.jobOverridesConfigMap.name`,
        );
        return 'refused';
      }
      if (upToDate(existing, desired)) return 'unchanged';
    }
    await deps.kube.apply(resourceTypes.configMap, desired, {
      fieldManager: jobOverridesFieldManager,
      force: true,
      ...signal,
    });
    const key = keyLabel(decision.setting);
    deps.log.info(
      { audit: true, action: 'PublishJobOverrides', configMap: `${namespace}/${name}`, key },
      `published job overrides for ${key} in ConfigMap ${name}`,
    );
    deps.events.record(owner, {
      type: 'Normal',
      reason: 'JobOverridesPublished',
      action: 'PublishJobOverrides',
      note: `ConfigMap ${name} now carries the job-level overrides for ${key}`,
    });
    return 'published';
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    deps.log.warn({ err: e, configMap: name }, 'publishing job overrides failed');
    warn('JobOverridesNotPublished', `ConfigMap ${name} not updated: ${message}`);
    return 'failed';
  }
}
