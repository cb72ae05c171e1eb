// Remembered results of slow or paid reads (KMS key facts, AWS tags), for a bounded time.
//
// Guarantees:
// - A value is served only while younger than the TTL; a load that fails is never remembered.
// - `fresh` always loads and replaces the entry.
// - Concurrent callers of one key share one load (no burst of identical requests after expiry).
// - `forget(match)` drops every entry whose key or alias `match` accepts.
// - Bounded: at most `maxEntries`, the least recently loaded dropped first.

export interface TtlMemo {
  remember<T>(
    key: string,
    load: () => Promise<T>,
    options?: { fresh?: boolean; aliases?: (value: T) => string[] },
  ): Promise<T>;
  forget(match: (keyOrAlias: string) => boolean): void;
  size(): number;
}

interface Entry {
  at: number;
  value: Promise<unknown>;
  names: string[];
}

export function createTtlMemo(options: { ttlMs: number; maxEntries?: number; now?: () => number }): TtlMemo {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  return {
    remember<T>(
      key: string,
      load: () => Promise<T>,
      o: { fresh?: boolean; aliases?: (value: T) => string[] } = {},
    ): Promise<T> {
      const hit = entries.get(key);
      if (hit && !o.fresh && now() - hit.at < options.ttlMs) return hit.value as Promise<T>;
      const entry: Entry = { at: now(), value: Promise.resolve(), names: [key] };
      entry.value = load().then(
        (v) => {
          if (o.aliases) entry.names.push(...o.aliases(v));
          return v;
        },
        (e: unknown) => {
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
