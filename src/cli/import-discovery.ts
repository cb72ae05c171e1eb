// `kubectl cmk import`, the reading half: every Managed Flink application, Keyspaces table and EMR
// Serverless application of one account and Region, read through the operator's own adapters
// (the same observe the reconciler runs, so the import sees what the operator will see), and each
// distinct key they name (DescribeKey, ListAliases).
//
// Guarantees:
// - Read-only: listings, Describe/Get and tag reads; nothing else is ever sent.
// - Every listing goes through the SDK's paginator, bounded by `maxPages`; every call, pages
//   included, first takes a slot of the caller's token bucket (`pace`, src/keys/inventory.ts
//   createPacer), so a large account is read at the rate the caller chose. The SDK's own retries
//   (adaptive) handle throttling.
// - Nothing throws for one resource or one listing: a failure is recorded in `unreadable` with AWS's
//   words, and the rest is still read. A resource deleted between listing and reading is left out.

import {
  type EMRServerlessClient,
  paginateListApplications as paginateEmrApplications,
} from '@aws-sdk/client-emr-serverless';
import { type KeyspacesClient, paginateListKeyspaces, paginateListTables } from '@aws-sdk/client-keyspaces';
import {
  type KinesisAnalyticsV2Client,
  paginateListApplications as paginateFlinkApplications,
} from '@aws-sdk/client-kinesis-analytics-v2';
import { type KMSClient, paginateListAliases } from '@aws-sdk/client-kms';
import { workloadAdapters } from '../aws/adapters.ts';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import { items, nonEmptyText } from '../aws/guards.ts';
import { describeKey } from '../aws/kms.ts';
import type { WorkloadId } from '../aws/workload.ts';
import { parseKeyArn } from '../keys/key-facts.ts';
import { createTtlMemo } from '../runtime/ttl-memo.ts';
import {
  type Discovery,
  type FoundWorkload,
  type KeyLookup,
  kindOfService,
  resourceName,
  type Unreadable,
} from './import-manifests.ts';

export interface DiscoveryOptions {
  /** Waits for a call slot of the caller's token bucket. */
  pace(): Promise<void>;
  /** Resources read at the same time. Default 4. */
  concurrency?: number;
  /** Pages per listing at most. Default 1000. */
  maxPages?: number;
  /** Told once the listings are done, before the resources are read one by one. */
  onListed?(count: number): void;
}

/** A listing longer than the page bound: what was listed is kept. */
class ListingTruncated extends Error {}

/** AWS's words for a failure, whatever threw it. */
function reasonOf(e: unknown): string {
  if (e instanceof ListingTruncated) return e.message;
  const failure = e instanceof AwsCallError ? e.failure : classifyAwsError(e);
  return `${failure.code}: ${failure.message}`;
}

type Sender = { send(...args: never[]): Promise<unknown> };

/**
 * The same clients, each call first waiting for a slot and counted. The SDK's paginators accept
 * them (a proxy keeps the client's class).
 */
function pacedClients(aws: AwsClients, pace: () => Promise<void>, count: () => void): AwsClients {
  const proxies = new WeakMap<object, object>();
  const paced = <C extends Sender>(client: C): C => {
    let proxy = proxies.get(client);
    if (!proxy) {
      proxy = new Proxy(client, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return async (...args: never[]) => {
            await pace();
            count();
            return target.send(...args);
          };
        },
      });
      proxies.set(client, proxy);
    }
    return proxy as C;
  };
  return {
    kms: (t) => paced<KMSClient>(aws.kms(t)),
    flink: (t) => paced<KinesisAnalyticsV2Client>(aws.flink(t)),
    keyspaces: (t) => paced<KeyspacesClient>(aws.keyspaces(t)),
    emrServerless: (t) => paced<EMRServerlessClient>(aws.emrServerless(t)),
    sts: (t) => aws.sts(t),
    destroy: () => aws.destroy(),
  };
}

/** Calls `each` for every page; past `maxPages` it stops with an error saying so. */
async function eachPage<P>(
  pages: AsyncIterable<P>,
  maxPages: number,
  each: (page: P) => void,
): Promise<void> {
  let n = 0;
  for await (const page of pages) {
    if (n++ >= maxPages)
      throw new ListingTruncated(`stopped after ${maxPages} pages: the rest was not listed`);
    each(page);
  }
}

/** Runs `fn` over `list`, at most `limit` at a time; `fn` must not throw. */
async function eachLimited<T>(list: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < list.length) await fn(list[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, list.length)) }, worker));
}

/** Reads every workload resource in `target`, and the keys they name. */
export async function discoverFleet(
  aws: AwsClients,
  target: AwsTarget,
  options: DiscoveryOptions,
): Promise<Discovery> {
  let calls = 0;
  const clients = pacedClients(aws, options.pace, () => {
    calls += 1;
  });
  const maxPages = options.maxPages ?? 1000;
  const concurrency = options.concurrency ?? 4;
  const unreadable: Unreadable[] = [];
  const found: Array<{ id: WorkloadId; label?: string }> = [];
  const listing = async (what: string, list: () => Promise<void>) => {
    try {
      await list();
    } catch (e) {
      unreadable.push({ resource: what, reason: reasonOf(e) });
    }
  };

  await listing('kinesisanalyticsv2 ListApplications', () =>
    eachPage(
      paginateFlinkApplications({ client: clients.flink(target), pageSize: 50, stopOnSameToken: true }, {}),
      maxPages,
      (page) => {
        for (const s of items(page.ApplicationSummaries)) {
          const applicationName = nonEmptyText(s.ApplicationName);
          if (applicationName) found.push({ id: { service: 'ManagedFlink', applicationName } });
        }
      },
    ),
  );

  const keyspaceNames: string[] = [];
  await listing('keyspaces ListKeyspaces', () =>
    eachPage(
      paginateListKeyspaces({ client: clients.keyspaces(target), pageSize: 100, stopOnSameToken: true }, {}),
      maxPages,
      (page) => {
        for (const k of items(page.keyspaces)) {
          const name = nonEmptyText(k.keyspaceName);
          // The system keyspaces AWS keeps in every account hold no tables of the customer's.
          if (name && !name.startsWith('system')) keyspaceNames.push(name);
        }
      },
    ),
  );
  for (const keyspaceName of keyspaceNames)
    await listing(`keyspaces ListTables ${keyspaceName}`, () =>
      eachPage(
        paginateListTables(
          { client: clients.keyspaces(target), pageSize: 100, stopOnSameToken: true },
          { keyspaceName },
        ),
        maxPages,
        (page) => {
          for (const t of items(page.tables)) {
            const tableName = nonEmptyText(t.tableName);
            if (tableName) found.push({ id: { service: 'Keyspaces', keyspaceName, tableName } });
          }
        },
      ),
    );

  await listing('emr-serverless ListApplications', () =>
    eachPage(
      paginateEmrApplications(
        { client: clients.emrServerless(target), pageSize: 50, stopOnSameToken: true },
        {},
      ),
      maxPages,
      (page) => {
        for (const a of items(page.applications)) {
          const applicationId = nonEmptyText(a.id);
          // A TERMINATED application was deleted: nothing to adopt.
          if (!applicationId || a.state === 'TERMINATED') continue;
          const label = nonEmptyText(a.name);
          found.push({ id: { service: 'EmrServerless', applicationId }, ...(label ? { label } : {}) });
        }
      },
    ),
  );

  options.onListed?.(found.length);
  // Each resource through its adapter's light observe (tags included; no job-run listing).
  const workloads: FoundWorkload[] = [];
  const memo = createTtlMemo({ ttlMs: 3_600_000 });
  await eachLimited(found, concurrency, async (r) => {
    try {
      const state = await workloadAdapters[r.id.service].observe(clients, target, r.id, { memo });
      if (state) workloads.push({ ...r, state });
    } catch (e) {
      unreadable.push({ kind: kindOfService[r.id.service], resource: resourceName(r), reason: reasonOf(e) });
    }
  });

  // Each distinct key, in its own Region when the reference is an ARN.
  const refs = new Set<string>();
  for (const w of workloads)
    if (w.state.encryption.type === 'CustomerManaged' && w.state.encryption.keyArn)
      refs.add(w.state.encryption.keyArn);
  const keys = new Map<string, KeyLookup>();
  await eachLimited([...refs], concurrency, async (ref) => {
    const region = parseKeyArn(ref)?.region ?? target.region;
    const kms = clients.kms({ ...target, region });
    try {
      const facts = await describeKey(kms, ref);
      if (!facts) {
        keys.set(ref, { kind: 'notFound' });
        return;
      }
      keys.set(ref, { kind: 'found', facts, aliases: await aliasesOf(kms, facts.arn, maxPages) });
    } catch (e) {
      keys.set(ref, { kind: 'error', reason: reasonOf(e) });
    }
  });
  return { workloads, keys, unreadable, calls };
}

/** The key's alias names; only for naming, so a failure reads as none (the name falls back to the key id). */
async function aliasesOf(kms: KMSClient, keyArn: string, maxPages: number): Promise<string[]> {
  const aliases: string[] = [];
  try {
    await eachPage(
      paginateListAliases({ client: kms, pageSize: 50, stopOnSameToken: true }, { KeyId: keyArn }),
      maxPages,
      (page) => {
        for (const a of items(page.Aliases)) {
          const name = nonEmptyText(a.AliasName);
          if (name) aliases.push(name);
        }
      },
    );
  } catch {
    return aliases;
  }
  return aliases;
}
