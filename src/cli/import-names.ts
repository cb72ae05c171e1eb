// `kubectl cmk import`: the objects' names. Pure.
//
// Guarantees: every name is a DNS label (lowercase a-z, 0-9 and -, at most 63: the strictest rule
// any kind's name must meet) and unique among the names given together; the same inputs give the
// same names in any order. A name that had to be shortened, or that two resources would share, ends
// in a hash of the resource's identity, except for the one resource named exactly so, which keeps
// the plain name: a later run that finds a look-alike does not rename an object already applied.

import { createHash } from 'node:crypto';

const maxLabel = 63;
const hashLength = 8;

/** Lowercase a-z, 0-9 and - only, no dash at either end; `fallback` when nothing is left. */
export function dnsLabel(text: string, fallback: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return s || fallback;
}

const hashOf = (identity: string, length: number) =>
  createHash('sha256').update(identity).digest('hex').slice(0, length);

function withHash(base: string, identity: string, length = hashLength): string {
  const head = base.slice(0, maxLabel - length - 1).replace(/-+$/, '');
  return `${head}-${hashOf(identity, length)}`;
}

/** The name a resource would like: a DNS label, and whether its own name already was exactly that. */
export interface WantedName {
  base: string;
  exact: boolean;
}

/** `text` as a wanted name (`fallback` when nothing of it is left). */
export function wantedName(text: string, fallback: string): WantedName {
  const base = dnsLabel(text, fallback);
  return { base, exact: base === text };
}

/**
 * Unique DNS-label names for `wanted` (identity -> wanted name). A base that fits is kept by the one
 * resource whose own name it exactly is, or by the only resource that wants it; every other
 * resource gets a hash of its identity. Order-independent; and a resource named exactly like its
 * object keeps that name when another resource mapping to the same name appears later.
 */
export function uniqueNames(wanted: ReadonlyMap<string, WantedName>): Map<string, string> {
  const byBase = new Map<string, Array<{ identity: string; exact: boolean }>>();
  for (const [identity, w] of wanted)
    byBase.set(w.base, [...(byBase.get(w.base) ?? []), { identity, exact: w.exact }]);
  const names = new Map<string, string>();
  const taken = new Set<string>();
  const hashed: Array<[string, string]> = [];
  for (const [base, members] of byBase) {
    const exact = members.filter((m) => m.exact);
    const keeper =
      base.length > maxLabel
        ? undefined
        : exact.length === 1
          ? exact[0]
          : members.length === 1
            ? members[0]
            : undefined;
    if (keeper) {
      names.set(keeper.identity, base);
      taken.add(base);
    }
    for (const m of members) if (m !== keeper) hashed.push([m.identity, base]);
  }
  for (const [identity, base] of hashed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // A hashed name meeting a kept one (a resource literally named `orders-1a2b3c4d`): a longer hash.
    let length = hashLength;
    let name = withHash(base, identity, length);
    while (taken.has(name) && length < 32) name = withHash(base, identity, ++length);
    names.set(identity, name);
    taken.add(name);
  }
  return names;
}
