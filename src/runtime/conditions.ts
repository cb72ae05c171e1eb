// Status conditions with apimachinery semantics, and the kstatus vocabulary on top of them.
//
// Guarantees:
// - Functions are pure: they return new arrays and never mutate their input.
// - `lastTransitionTime` changes only when a condition's status changes (or it is new);
//   `observedGeneration` is stamped on every condition set; reasons are CamelCase
//   (apimachinery's regex) or setCondition throws; messages are capped at 32 KiB.
// - Order is stable and independent of history: Ready, Reconciling, Stalled, then the rest by type,
//   so computing the same conditions twice yields a deep-equal status (no spurious writes).
// - kstatus, derived in one place (`withKstatus`): Ready is always present; never Ready=True while
//   Reconciling or Stalled; never Reconciling and Stalled together; the abnormal-true conditions
//   (Reconciling, Stalled) are removed rather than set to False.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

export interface ConditionStamp {
  /** metadata.generation of the object the conditions describe. */
  generation: number | undefined;
  /** Epoch ms; becomes lastTransitionTime when the status changes. */
  now: number;
}

export const Ready = 'Ready';
export const Reconciling = 'Reconciling';
export const Stalled = 'Stalled';

const reasonPattern = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const maxMessageLength = 32_768;
const leadingTypes = [Ready, Reconciling, Stalled];

function rank(type: string): number {
  const i = leadingTypes.indexOf(type);
  return i < 0 ? leadingTypes.length : i;
}

function before(a: Condition, b: Condition): boolean {
  const r = rank(a.type) - rank(b.type);
  return r < 0 || (r === 0 && a.type < b.type);
}

/**
 * Sorts in place, by insertion: an object has a handful of conditions, and every reconcile sorts
 * them several times. Array.prototype.sort allocates ~1.5 KiB of merge state per call whatever the
 * length, which was 2 % of what a settled operator allocated (bench/results/memory-analysis.md,
 * session 23); this allocates nothing. Stable, like Array.prototype.sort.
 */
function sortConditions(conditions: Condition[]): Condition[] {
  for (let i = 1; i < conditions.length; i++) {
    const c = conditions[i]!;
    let j = i;
    for (; j > 0 && before(c, conditions[j - 1]!); j--) conditions[j] = conditions[j - 1]!;
    conditions[j] = c;
  }
  return conditions;
}

function conditionTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** The conditions by type (of two with one type, the later). */
export function conditionsByType(conditions: readonly Condition[] | undefined): Map<string, Condition> {
  return new Map((conditions ?? []).map((c) => [c.type, c]));
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Sets (adds or updates) one condition. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  stamp: ConditionStamp,
): Condition[] {
  if (!reasonPattern.test(input.reason)) {
    throw new Error(`condition ${input.type}: reason "${input.reason}" is not CamelCase`);
  }
  const existing = findCondition(conditions, input.type);
  const message = (input.message ?? '').slice(0, maxMessageLength);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message,
    ...(stamp.generation !== undefined ? { observedGeneration: stamp.generation } : {}),
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : conditionTime(stamp.now),
  };
  const rest = (conditions ?? []).filter((c) => c.type !== input.type);
  return sortConditions([...rest, next]);
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return sortConditions((conditions ?? []).filter((c) => c.type !== type));
}

export interface KstatusInput {
  /** Work in flight (AWS transitioning, a change being applied). */
  reconciling?: { reason: string; message: string };
  /** A terminal error: only a spec change can help. Wins over `reconciling`. */
  stalled?: { reason: string; message: string };
  /** Domain condition types that must all be True for Ready=True. */
  readyWhen: readonly string[];
  /** Ready's reason and message when everything is fine. */
  ready?: { reason: string; message: string };
}

/**
 * Applies Reconciling/Stalled and derives Ready. Domain conditions must already be set: Ready is
 * False with the first failing domain condition's reason when one is not True.
 */
export function withKstatus(
  conditions: readonly Condition[] | undefined,
  input: KstatusInput,
  stamp: ConditionStamp,
): Condition[] {
  // Set before removing the other one, so a condition that stays keeps its transition time.
  if (input.stalled) {
    const next = removeCondition(
      setCondition(conditions, { type: Stalled, status: 'True', ...input.stalled }, stamp),
      Reconciling,
    );
    return setCondition(next, { type: Ready, status: 'False', ...input.stalled }, stamp);
  }
  if (input.reconciling) {
    const next = removeCondition(
      setCondition(conditions, { type: Reconciling, status: 'True', ...input.reconciling }, stamp),
      Stalled,
    );
    return setCondition(next, { type: Ready, status: 'Unknown', ...input.reconciling }, stamp);
  }
  const next = removeCondition(removeCondition(conditions, Reconciling), Stalled);
  for (const type of input.readyWhen) {
    const c = findCondition(next, type);
    if (c?.status !== 'True') {
      return setCondition(
        next,
        {
          type: Ready,
          status: c?.status === 'Unknown' || !c ? 'Unknown' : 'False',
          reason: c?.reason ?? 'Unknown',
          message: c?.message ?? `condition ${type} not reported yet`,
        },
        stamp,
      );
    }
  }
  const ready = input.ready ?? { reason: 'Succeeded', message: 'up to date' };
  return setCondition(next, { type: Ready, status: 'True', ...ready }, stamp);
}

/** kstatus invariant violations (empty when fine); for tests and for assertions in reconcilers. */
export function kstatusViolations(
  conditions: readonly Condition[] | undefined,
  generation: number | undefined,
): string[] {
  const violations: string[] = [];
  const ready = findCondition(conditions, Ready);
  const reconciling = isConditionTrue(conditions, Reconciling);
  const stalled = isConditionTrue(conditions, Stalled);
  if (!ready) violations.push('Ready condition missing');
  if (ready?.status === 'True' && reconciling) violations.push('Ready=True while Reconciling');
  if (ready?.status === 'True' && stalled) violations.push('Ready=True while Stalled');
  if (reconciling && stalled) violations.push('Reconciling and Stalled both True');
  for (const c of conditions ?? []) {
    if (generation !== undefined && c.observedGeneration !== undefined && c.observedGeneration > generation) {
      violations.push(`${c.type}: observedGeneration ${c.observedGeneration} > generation ${generation}`);
    }
    if (!reasonPattern.test(c.reason)) violations.push(`${c.type}: reason "${c.reason}" is not CamelCase`);
  }
  const types = (conditions ?? []).map((c) => c.type);
  if (new Set(types).size !== types.length) violations.push('duplicate condition types');
  return violations;
}
