// The encryption AWS reported for each resource at the workload reconciles' latest reads, with when
// each read began. The key usage inventory's pass (src/aws/inventory.ts) takes a resource's key from
// here when a reconcile read it recently enough, instead of reading the same resource again: every
// managed resource is read once per resync by its reconcile anyway, so a pass over an account the
// operator manages mostly costs its listings.
//
// Guarantees:
// - An entry is what one AWS read answered, stamped with the moment that read began (never later),
//   so a reader asking for "read at or after T" never gets an answer older than T.
// - `forget` drops a resource whose encryption this process just asked AWS to change: until a read
//   that began after the change, the last answer is known to be out of date (a read that began
//   before it and answers later is not kept).
// - Bounded: at most `maxEntries`, the least recently recorded dropped first.

import type { EncryptionSetting } from './workload.ts';

export interface RecentRead {
  /** When the read began (ms since the epoch). */
  at: number;
  encryption: EncryptionSetting;
  /** The resource's version in that answer, where AWS gives one (MSF ApplicationVersionId). */
  version?: string;
}

export interface RecentReads {
  record(resourceArn: string, encryption: EncryptionSetting, at: number, version?: string): void;
  /** The latest read of the resource, if it began at or after `since`. */
  since(resourceArn: string, since: number): RecentRead | undefined;
  /** The resource changed at `at`: no read that began before it serves any more. */
  forget(resourceArn: string, at: number): void;
  size(): number;
}

export function createRecentReads(options: { maxEntries?: number } = {}): RecentReads {
  const maxEntries = Math.max(1, options.maxEntries ?? 100_000);
  /** By resource ARN; an entry without `encryption` marks a change (no read since serves). */
  const reads = new Map<string, { at: number; encryption?: EncryptionSetting; version?: string }>();
  const put = (
    resourceArn: string,
    entry: { at: number; encryption?: EncryptionSetting; version?: string },
  ) => {
    reads.delete(resourceArn);
    reads.set(resourceArn, entry);
    if (reads.size > maxEntries) {
      const oldest = reads.keys().next().value;
      if (oldest !== undefined) reads.delete(oldest);
    }
  };
  return {
    record(resourceArn, encryption, at, version) {
      if (!resourceArn) return;
      const earlier = reads.get(resourceArn);
      // Two reads may answer out of order, or after a change they began before: keep the one that
      // began last.
      if (earlier && (earlier.at > at || (!earlier.encryption && earlier.at >= at))) return;
      put(resourceArn, { at, encryption, ...(version !== undefined ? { version } : {}) });
    },
    since(resourceArn, since) {
      const read = reads.get(resourceArn);
      if (!read?.encryption || read.at < since) return undefined;
      return {
        at: read.at,
        encryption: read.encryption,
        ...(read.version !== undefined ? { version: read.version } : {}),
      };
    },
    forget(resourceArn, at) {
      put(resourceArn, { at });
    },
    size: () => reads.size,
  };
}
