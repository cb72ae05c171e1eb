// Small data-structure helpers the service stores share: sorted name lists (O(log n) pagination over
// thousands of resources) and one-to-many indexes (which workloads use which key).

/** First index whose value is not less than `key` (`names` sorted ascending). */
export function lowerBound(names: readonly string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is greater than `key` (`names` sorted ascending). */
export function upperBound(names: readonly string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function insertSorted(names: string[], key: string): void {
  names.splice(lowerBound(names, key), 0, key);
}

export function removeSorted(names: string[], key: string): void {
  const i = lowerBound(names, key);
  if (names[i] === key) names.splice(i, 1);
}

/** Adds `value` under `key`, creating the set on first use. */
export function indexAdd<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

/** Removes `value` from under `key`; an emptied set is dropped. */
export function indexRemove<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
