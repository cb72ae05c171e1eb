// The key-state poll: every key something depends on is read from KMS once per period (one
// DescribeKey per key, whatever the resync), and a change in what its users depend on — the key's
// state, its deletion date, its current key material — enqueues the objects that hold or use it at
// once. With no event queue, this bounds how long a key disabled or scheduled for deletion outside
// Kubernetes goes unnoticed: at most one period plus one reconcile (docs/detection.md).
//
// Guarantees:
// - Reads only, through the key cache (`maxAgeMs: 0`): the fresh answer also serves the reconciles
//   that the change enqueues, so noticing a change costs no second read.
// - The first look at a key compares with what the key's holder last recorded (`known`), so a change
//   made while the operator was down is noticed on the first pass, not taken as the baseline.
// - One key's failure (throttling, access denied, a deleted key) is logged and counted; it never ends
//   the loop or delays other keys beyond the pass. At most `concurrency` reads are in flight.
// - Stops promptly when its signal aborts (leadership lost, shutdown).

import type { Logger } from 'pino';
import type { AwsTarget } from '../aws/clients.ts';
import { pause, systemClock } from '../runtime/clock.ts';
import type { KeyReads } from './key-cache.ts';
import type { KeyFacts } from './key-facts.ts';

/** A key something depends on, and how to read it. */
export interface PolledKey {
  arn: string;
  target: AwsTarget;
  /** The state the key's holder last recorded (its KmsKey's status), for the first comparison. */
  known?: KeyView;
}

/** The part of DescribeKey that the key's users depend on. */
export interface KeyView {
  state: string;
  deletionDate?: string;
  currentKeyMaterialId?: string;
}

export interface KeyPollStats {
  passes: number;
  reads: number;
  failures: number;
  changes: number;
  lastPassAt?: number;
}

export interface KeyPoll {
  /**
   * Runs passes every period until `signal` aborts. The returned promise settles when the loop has
   * ended: at once after an abort, also one that comes during a pass.
   */
  start(signal: AbortSignal): Promise<void>;
  /** One pass now (tests, and the first pass after start). */
  pass(signal?: AbortSignal): Promise<void>;
  stats(): KeyPollStats;
}

export interface KeyPollOptions {
  periodMs: number;
  /** The keys to read this pass. */
  keys(): PolledKey[];
  /** A key's view changed (or could no longer be read as found): enqueue who holds and uses it. */
  onChange(arn: string, before: KeyView | undefined, after: KeyView | undefined): void;
  /** Reads in flight at once. Default 4. */
  concurrency?: number;
  /** Each pass's reads, for the metrics (`outcome`: read, failed). */
  onRead?(outcome: 'read' | 'failed'): void;
}

/** The view of a key's facts that a change is judged on; undefined for a key KMS does not find. */
export function keyView(facts: KeyFacts | undefined): KeyView | undefined {
  if (!facts) return undefined;
  return {
    state: facts.state,
    ...(facts.deletionDate ? { deletionDate: facts.deletionDate } : {}),
    ...(facts.currentKeyMaterialId ? { currentKeyMaterialId: facts.currentKeyMaterialId } : {}),
  };
}

/** Whether two views differ in anything a key's users depend on (an unknown material id is no change). */
export function viewChanged(before: KeyView | undefined, after: KeyView | undefined): boolean {
  if (!before || !after) return before !== after;
  if (before.state !== after.state || before.deletionDate !== after.deletionDate) return true;
  return (
    before.currentKeyMaterialId !== undefined &&
    after.currentKeyMaterialId !== undefined &&
    before.currentKeyMaterialId !== after.currentKeyMaterialId
  );
}

export function createKeyPoll(deps: { keys: KeyReads; log: Logger }, options: KeyPollOptions): KeyPoll {
  const seen = new Map<string, KeyView | undefined>();
  const stats: KeyPollStats = { passes: 0, reads: 0, failures: 0, changes: 0 };
  const concurrency = Math.max(1, options.concurrency ?? 4);

  async function look(key: PolledKey): Promise<void> {
    let after: KeyView | undefined;
    try {
      after = keyView(await deps.keys.describe(key.target, key.arn, { maxAgeMs: 0 }));
      stats.reads++;
      options.onRead?.('read');
    } catch (e) {
      stats.failures++;
      options.onRead?.('failed');
      deps.log.debug({ err: e, keyArn: key.arn }, 'key poll: DescribeKey failed; the next pass tries again');
      return;
    }
    const hadBaseline = seen.has(key.arn) || key.known !== undefined;
    const before = seen.has(key.arn) ? seen.get(key.arn) : key.known;
    seen.set(key.arn, after);
    if (!hadBaseline || !viewChanged(before, after)) return;
    stats.changes++;
    deps.log.info(
      { keyArn: key.arn, before: before?.state, after: after?.state ?? 'NotFound' },
      'key changed outside the operator: looking at its holders and users now',
    );
    options.onChange(key.arn, before, after);
  }

  async function pass(signal?: AbortSignal): Promise<void> {
    const keys = options.keys();
    const wanted = new Set(keys.map((k) => k.arn));
    for (const arn of seen.keys()) if (!wanted.has(arn)) seen.delete(arn);
    let next = 0;
    const worker = async () => {
      while (next < keys.length && !signal?.aborted) await look(keys[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    stats.passes++;
    stats.lastPassAt = Date.now();
  }

  return {
    pass,
    stats: () => ({ ...stats }),
    async start(signal) {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          await pass(signal);
        } catch (e) {
          deps.log.warn({ err: e }, 'key poll pass failed; the next pass tries again');
        }
        // Ends at once when the signal aborts, also when it did during the pass.
        await pause(systemClock, Math.max(0, options.periodMs - (Date.now() - started)), signal);
      }
    },
  };
}
