// Remembered results of slow or paid reads (KMS key facts, AWS tags), for a bounded time.
//
// Guarantees:
// - A value is served only while younger than the TTL; a load that fails is never remembered.
// - `maxAgeMs` bounds the age of what is served for one call (0: always load, and replace);
//   `loadedSince` serves what was loaded since a moment (a read made earlier in the same reconcile).
// - Concurrent callers of one key share one load (no burst of identical requests after expiry).
// - `peek(key)` answers only from an entry loaded within the TTL (never one still loading), and
//   never loads.
// - `forget(match)` drops every entry whose key or alias `match` accepts (a scan of every entry).
// - `forgetSubject(subject, match?)` does the same for the names `subject|...` only, through an index:
//   its cost is the subject's entries, not the memo's (a fleet switch forgets one resource's reads per
//   workload; a scan of 10,000 entries each time was a tenth of the operator's CPU at 10,000).
// - Bounded: at most `maxEntries`, the least recently loaded dropped first; and an entry past its TTL
//   is dropped at the next `remember` (the oldest loads first), so entries that are never asked for
//   again (a deleted resource's tags) cost memory for one TTL, not until `maxEntries` newer ones push
//   them out. (Entries a caller knows are superseded, it drops at once: `memoizedLatest`.)

export interface RememberOptions<T> {
  /** Serve only an entry at most this old (default: the TTL); 0 always loads. */
  maxAgeMs?: number;
  /** Serve an entry whose load began at or after this moment (the memo's clock), whatever `maxAgeMs` says. */
  loadedSince?: number;
  /** Share a load already under way even when `maxAgeMs` is 0 (its answer is at most one request old). */
  joinInFlight?: boolean;
  /** More names the entry answers to in `forget`, from its value. */
  aliases?: (value: T) => string[];
}

export interface TtlMemo {
  remember<T>(key: string, load: () => Promise<T>, options?: RememberOptions<T>): Promise<T>;
  /** The value under `key` if it was loaded within the TTL (not still loading), with when; never loads. */
  peek<T>(key: string): { value: Promise<T>; at: number } | undefined;
  forget(match: (keyOrAlias: string) => boolean): void;
  /** Drops the entries with a name `${subject}|...` that `match` (default: any) accepts. */
  forgetSubject(subject: string, match?: (keyOrAlias: string) => boolean): void;
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
  /**
   * Keys of the entries with a name `subject|...`, by subject: the key itself while it is the only
   * one (most subjects, a resource's tags: a Set each was 3 MiB at 10,000 resources), else a Set.
   */
  const bySubject = new Map<string, string | Set<string>>();
  const subjectOf = (name: string): string | undefined => {
    const bar = name.indexOf('|');
    return bar > 0 ? name.slice(0, bar) : undefined;
  };
  function index(key: string, names: string[]): void {
    for (const name of names) {
      const subject = subjectOf(name);
      if (subject === undefined) continue;
      const keys = bySubject.get(subject);
      if (keys === undefined || keys === key) bySubject.set(subject, key);
      else if (typeof keys === 'string') bySubject.set(subject, new Set([keys, key]));
      else keys.add(key);
    }
  }
  /** Removes `key` if it still holds `entry`, and its index entries. */
  function drop(key: string, entry: Entry | undefined = entries.get(key)): void {
    if (!entry || entries.get(key) !== entry) return;
    entries.delete(key);
    for (const name of entry.names) {
      const subject = subjectOf(name);
      const keys = subject === undefined ? undefined : bySubject.get(subject);
      if (keys === undefined) continue;
      if (keys === key) bySubject.delete(subject!);
      else if (typeof keys !== 'string') {
        keys.delete(key);
        if (keys.size === 1) bySubject.set(subject!, keys.values().next().value!);
      }
    }
  }
  /** Drops expired entries from the front: the map is in load order (a load re-inserts its key). */
  function sweep(at: number): void {
    for (const [key, entry] of entries) {
      if (entry.pending || at - entry.at < options.ttlMs) return;
      drop(key, entry);
    }
  }
  return {
    remember<T>(key: string, load: () => Promise<T>, o: RememberOptions<T> = {}): Promise<T> {
      const hit = entries.get(key);
      const maxAgeMs = Math.min(o.maxAgeMs ?? options.ttlMs, options.ttlMs);
      // An entry still loading is joined when the caller accepts any age, or asks to.
      const young =
        hit !== undefined && now() - hit.at < options.ttlMs && hit.at >= (o.loadedSince ?? Infinity);
      if (hit && (young || now() - hit.at < maxAgeMs || (hit.pending && (maxAgeMs > 0 || o.joinInFlight))))
        return hit.value as Promise<T>;
      const at = now();
      sweep(at);
      const entry: Entry = { at, value: Promise.resolve(), names: [key], pending: true };
      entry.value = load().then(
        (v) => {
          entry.pending = false;
          if (o.aliases && entries.get(key) === entry) {
            const more = o.aliases(v);
            entry.names.push(...more);
            index(key, more);
          }
          return v;
        },
        (e: unknown) => {
          entry.pending = false;
          drop(key, entry);
          throw e;
        },
      );
      drop(key);
      entries.set(key, entry);
      index(key, entry.names);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) drop(oldest);
      }
      return entry.value as Promise<T>;
    },
    peek<T>(key: string) {
      const hit = entries.get(key);
      if (!hit || hit.pending || now() - hit.at >= options.ttlMs) return undefined;
      return { value: hit.value as Promise<T>, at: hit.at };
    },
    forget(match) {
      for (const [k, entry] of entries) if (entry.names.some(match)) drop(k, entry);
    },
    forgetSubject(subject, match = () => true) {
      const keys = bySubject.get(subject);
      if (keys === undefined) return;
      for (const k of typeof keys === 'string' ? [keys] : [...keys]) {
        const entry = entries.get(k);
        if (entry?.names.some((n) => subjectOf(n) === subject && match(n))) drop(k, entry);
      }
    },
    size: () => entries.size,
  };
}
