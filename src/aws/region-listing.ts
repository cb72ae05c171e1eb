// A Region's listing of one service's applications, shared by the light looks of a resync wave:
// each entry says which version an application is at (Managed Flink: its version id and status,
// MSF-027; EMR Serverless: when it was last updated and its state, EMR-014). A look whose
// application the listing shows at the version of a full read remembered in the observe memo
// answers from that read, dated when the listing was made, instead of reading the application.
//
// Guarantees:
// - One listing per target (Region, role, tagged session) and service at a time, at most
//   `listingMaxAgeMs` old, shared through the observe memo.
// - A listing is made only when it pays for itself: the looks of the window before (one listing
//   age long) were at least as many as the last listing's pages. A Region with a few managed
//   applications among many, or a long resync over a small fleet, keeps reading each application.
// - A listing that fails is not fatal: every look reads its application for `listingRetryMs`
//   before listing again. A Region of more than `listingMaxPages` pages is not listed for
//   `listingTooLongMs`.
// - A remembered full read serves only the version it was read at; remembering a newer read
//   replaces every other version's (one entry per application).
// Never answers for an application missing from the listing, or for one without a remembered read
// at the listed version (the caller reads it then). The adapters ask only for a periodic light look
// at a workload whose status says it is settled (`shareListing`), never for a look that may act.

import { type AwsTarget, clientKey } from './clients.ts';
import { memoizedLatest, type ObserveOptions } from './workload.ts';

/**
 * How old a listing of a Region's applications a light look may rest on, for a resync period: a
 * tenth of it, at least 5 s. A resync wave's looks at one Region share a listing; a change is seen at
 * most this much later than a read would have seen it (a resync looks only once a period).
 */
export function listingMaxAgeMs(resyncMs: number): number {
  return Math.max(5000, Math.round(resyncMs / 10));
}

/** Pages of one listing at most (5,000 applications in a Region at 50 a page); a longer one is not used. */
const listingMaxPages = 100;

/** A listing failed: light looks read each application for this long before listing again. */
const listingRetryMs = 60_000;

/** A Region listed more than listingMaxPages: its looks read each application for this long. */
const listingTooLongMs = 60 * 60_000;

/** What a listing says of one application. */
export interface ListedApplication {
  arn: string;
  /** The version it is at, comparable with `version` of a full read (the service says what makes one). */
  version: string;
}

/** One page of a listing as AWS answered it: its entries, and the next token. */
export interface ListingPage<E> {
  entries: readonly E[];
  next?: string;
}

/** What a Region's listing says of each application (no `apps`: it could not be read). */
interface Listing {
  /** When the listing began. */
  at: number;
  apps?: Map<string, ListedApplication>;
  /** Calls it took. */
  pages: number;
  tooLong?: boolean;
}

/** The looks that wanted a target's listing, per window of the listing's age. */
interface ListingDemand {
  windowStart: number;
  looks: number;
  previous?: number;
  pages: number;
}
const demand = new WeakMap<object, Map<string, ListingDemand>>();

/** One service's listing: how to page through it, and what an entry says of its application. */
export interface ListingKind<E = unknown> {
  /** Names the memo entries (`flink-listing`, `emr-listing`): one listing per service and target. */
  name: string;
  /** One page (the first without a token); throws when AWS refuses. */
  page(token: string | undefined): Promise<ListingPage<E>>;
  /** The id a look names the entry's application by, and what it says; undefined when incomplete. */
  entry(e: E): [string, ListedApplication] | undefined;
}

async function list<E>(kind: ListingKind<E>, at: number): Promise<Listing> {
  const apps = new Map<string, ListedApplication>();
  let token: string | undefined;
  let pages = 0;
  try {
    while (pages < listingMaxPages) {
      pages += 1;
      const page = await kind.page(token);
      for (const e of page.entries) {
        const listed = kind.entry(e);
        if (listed) apps.set(listed[0], listed[1]);
      }
      token = page.next;
      if (!token) return { at, apps, pages };
    }
    return { at, pages, tooLong: true };
  } catch {
    // Not fatal to any look: each reads its application instead (listingRetryMs).
    return { at, pages };
  }
}

/** The memo's name for an application's last full read at a version. */
const readMemoName = (arn: string, version: string) => `${arn}|detail|${version}`;

/**
 * Remembers a full read of an application at `version` (replacing its read at any other), for light
 * looks while listings show that version. `value` should keep only what the adapter's state needs.
 */
export function rememberRead<T>(
  memo: NonNullable<ObserveOptions['memo']>,
  arn: string,
  version: string,
  value: T,
): void {
  void memoizedLatest({ memo, forActing: true }, readMemoName(arn, ''), version, async () => value);
}

/**
 * A light look's read of application `id` from its Region's listing and a remembered full read,
 * when the listing shows that read's version; undefined when the application must be read. `at` is
 * when the listing was read.
 */
export async function listedRead<T, E = unknown>(
  kind: ListingKind<E>,
  target: AwsTarget,
  id: string,
  options: ObserveOptions & { memo: NonNullable<ObserveOptions['memo']> },
): Promise<{ read: T; at: number } | undefined> {
  const { memo } = options;
  const now = options.now ?? Date.now;
  const maxAgeMs = options.listingMaxAgeMs ?? listingMaxAgeMs(0);
  const key = clientKey(kind.name, target);
  // Count this look in its window; list only when the window before paid for a listing.
  let byTarget = demand.get(memo);
  if (!byTarget) {
    byTarget = new Map();
    demand.set(memo, byTarget);
  }
  let d = byTarget.get(key);
  if (!d) {
    d = { windowStart: now(), looks: 0, pages: 1 };
    byTarget.set(key, d);
  }
  if (now() - d.windowStart >= maxAgeMs) {
    d.previous = d.looks;
    d.looks = 0;
    d.windowStart = now();
  }
  d.looks += 1;
  if (d.previous !== undefined && d.previous < d.pages) return undefined;
  const last = memo.peek<Listing>(key);
  if (last) {
    const done = await last.value;
    const wait = done.tooLong ? listingTooLongMs : done.apps ? 0 : listingRetryMs;
    if (now() - last.at < wait) return undefined;
  }
  const listing = await memo.remember(key, () => list(kind, now()), { maxAgeMs });
  d.pages = Math.max(1, listing.pages);
  const listed = listing.apps?.get(id);
  const read = listed && memo.peek<T>(readMemoName(listed.arn, listed.version));
  return read ? { read: await read.value, at: listing.at } : undefined;
}

/**
 * An application found missing: no listing may answer for a namesake created later from its read.
 * `arnSuffix` ends the application's ARN (`:application/<name>`, `/applications/<id>`); only reads
 * in the target's Region are forgotten.
 */
export function forgetReads(memo: ObserveOptions['memo'], target: AwsTarget, arnSuffix: string): void {
  const suffix = `${arnSuffix}|detail|`;
  memo?.forget((n) => n.includes(suffix) && n.startsWith('arn:') && n.split(':')[3] === target.region);
}
