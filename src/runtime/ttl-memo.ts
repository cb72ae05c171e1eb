// Remembered results of slow or paid reads (KMS key facts, AWS tags), for a bounded time.
//
// Guarantees:
// - A value is served only while younger than the TTL; a load that fails is never remembered.
// - `maxAgeMs` bounds the age of what is served for one call (0: always load, and replace).
// - Concurrent callers of one key share one load (no burst of identical requests after expiry).
// - `forget(match)` drops every entry whose key or alias `match` accepts.
// - Bounded: at most `maxEntries`, the least recently loaded dropped first; and an entry past its TTL
//   is dropped at the next `remember` (the oldest loads first), so entries that are never asked for
//   again (a resource's operation history of a superseded version, a deleted resource's tags) cost
//   memory for one TTL, not until `maxEntries` newer ones push them out.

export interface RememberOptions<T> {
  /** Serve only an entry at most this old (default: the TTL); 0 always loads. */
  maxAgeMs?: number;
  /** Share a load already under way even when `maxAgeMs` is 0 (its answer is at most one request old). */
  joinInFlight?: boolean;
  /** More names the entry answers to in `forget`, from its value. */
  aliases?: (value: T) => string[];
}

export interface TtlMemo {
  remember<T>(key: string, load: () => Promise<T>, options?: RememberOptions<T>): Promise<T>;
  forget(match: (keyOrAlias: string) => boolean): void;
  /** Entries held (loaded or loading). */
  size(): number;
}

interface Entry {
  at: number;
  value: Promise<unknown>;
  names: string[];
  pending: boolean;
}

export function createTtlMemo(options: { ttlMs: number; maxEntries?: number; now?: () => number }): TtlMemo {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  /** Drops expired entries from the front: the map is in load order (a load re-inserts its key). */
  function sweep(at: number): void {
    for (const [key, entry] of entries) {
      if (entry.pending || at - entry.at < options.ttlMs) return;
      entries.delete(key);
    }
  }
  return {
    remember<T>(key: string, load: () => Promise<T>, o: RememberOptions<T> = {}): Promise<T> {
      const hit = entries.get(key);
      const maxAgeMs = Math.min(o.maxAgeMs ?? options.ttlMs, options.ttlMs);
      // An entry still loading is joined when the caller accepts any age, or asks to.
      if (hit && (now() - hit.at < maxAgeMs || (hit.pending && (maxAgeMs > 0 || o.joinInFlight))))
        return hit.value as Promise<T>;
      const at = now();
      sweep(at);
      const entry: Entry = { at, value: Promise.resolve(), names: [key], pending: true };
      entry.value = load().then(
        (v) => {
          entry.pending = false;
          if (o.aliases) entry.names.push(...o.aliases(v));
          return v;
        },
        (e: unknown) => {
          entry.pending = false;
          if (entries.get(key) === entry) entries.delete(key);
          throw e;
        },
      );
      entries.delete(key);
      entries.set(key, entry);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      return entry.value as Promise<T>;
    },
    forget(match) {
      for (const [k, entry] of entries) if (entry.names.some(match)) entries.delete(k);
    },
    size: () => entries.size,
  };
}
