// `kubectl cmk usage KEY`: everything that uses a KmsKey's key, with where each user was seen.
// From Kubernetes (read now, every namespace the caller may list): workloads and job runs tied to the
// key's ARN however they name it, and other KmsKeys declaring it. From AWS: the operator's last
// inventory (status.usage), or with --scan a pass of the key's Region made now with the caller's own
// credentials (read-only), plus the key's service grants, and a row for each listing or resource it
// could not read.

import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import { cmkResources, referencingResources } from '../api/resources.ts';
import type { AwsClients } from '../aws/clients.ts';
import { grantUsers, scanKeyUsers } from '../aws/inventory.ts';
import { isKeyArn } from '../keys/inventory.ts';
import { declarationsOf, type KeyUse, usesOfKey } from '../keys/key-usage.ts';
import type { KubeClient } from '../runtime/kube.ts';

export interface UsageRow {
  user: string;
  how: string;
  managedBy: string;
  seen: string;
}

/** One row per user: Kubernetes objects first, then what AWS shows, each with where it was seen. */
export function usageRows(
  uses: KeyUse[],
  aws: Array<{ service: string; what: string; resourceArn: string; managedBy?: string }>,
  awsSeen: string,
): UsageRow[] {
  const how: Record<KeyUse['how'], string> = {
    'on-key': 'on the key',
    'switching-to': 'switching to it',
    'switching-from': 'switching away (not confirmed)',
    'declared-by': 'declares the key',
  };
  return [
    ...uses.map((u) => ({
      user: `${u.kind} ${u.namespace}/${u.name}`,
      how: how[u.how],
      managedBy: '-',
      seen: 'kubernetes',
    })),
    ...aws.map((u) => ({
      user: u.resourceArn,
      how: `${u.service} ${u.what}`,
      managedBy: u.managedBy ?? 'unmanaged',
      seen: awsSeen,
    })),
  ];
}

/**
 * One row per listing or resource a scan could not read (the scan made now, or the operator's last
 * pass as status.usage.unread): a user may be behind it, so it is never shown as nothing.
 */
function unreadRows(gaps: Array<{ where: string; reason: string }>, seen: string): UsageRow[] {
  return gaps.map((g) => ({
    user: `(not read: ${g.where})`,
    how: `unknown: ${g.reason}`.slice(0, 200),
    managedBy: '-',
    seen,
  }));
}

export function renderUsage(keyArn: string, rows: UsageRow[]): string {
  if (rows.length === 0) return `Nothing Kubernetes or AWS shows uses ${keyArn}.\n`;
  const header: UsageRow = { user: 'USER', how: 'HOW', managedBy: 'MANAGED BY', seen: 'SEEN' };
  const all = [header, ...rows];
  const width = (k: keyof UsageRow) => Math.max(...all.map((r) => r[k].length));
  const line = (r: UsageRow) =>
    `${r.user.padEnd(width('user'))}  ${r.how.padEnd(width('how'))}  ${r.managedBy.padEnd(width('managedBy'))}  ${r.seen}`.trimEnd();
  return `${keyArn}\n${all.map(line).join('\n')}\n`;
}

export interface UsageInput {
  kube: KubeClient;
  namespace: string;
  name: string;
  /** Set to scan AWS now (the key's Region) instead of reading the operator's last inventory. */
  scan?: { aws: AwsClients; region: string };
}

/** The rows for the KmsKey `namespace/name`, or an error message. */
export async function keyUsage(input: UsageInput): Promise<{ keyArn: string; rows: UsageRow[] } | string> {
  const key = await input.kube.get<KmsKeyObject>(cmkResources.kmsKey, {
    namespace: input.namespace,
    name: input.name,
  });
  const keyArn = key.status?.keyArn;
  if (!keyArn || !isKeyArn(keyArn))
    return `KmsKey ${input.namespace}/${input.name} has not resolved its key yet`;
  const objects: KeyReferencingObject[] = [];
  for (const type of referencingResources)
    for (const o of (await input.kube.list<KeyReferencingObject>(type)).items)
      objects.push({ ...o, kind: o.kind ?? type.kind });
  const kmsKeys = (await input.kube.list<KmsKeyObject>(cmkResources.kmsKey)).items;
  const uses = [...usesOfKey(objects, keyArn), ...declarationsOf(kmsKeys, keyArn, key)];
  const managers = new Map<string, { name: string; desiredKeyArn?: string }>();
  for (const o of objects) {
    const s = o.status as { resourceArn?: string; desiredKeyArn?: string } | undefined;
    if (s?.resourceArn)
      managers.set(s.resourceArn, {
        name: `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`,
        ...(s.desiredKeyArn ? { desiredKeyArn: s.desiredKeyArn } : {}),
      });
  }
  const withManager = (u: { service: string; what: string; resourceArn: string }) => {
    const managedBy = managers.get(u.resourceArn)?.name;
    // Audit: a job run on a managed application whose job-level key overrides the application's
    // declared key (a job-level override wins, EMR-003), so its disks are not on the declared key.
    const application =
      u.what === 'jobRun' ? managers.get(u.resourceArn.split('/jobruns/')[0] ?? '') : undefined;
    const overrides =
      application?.desiredKeyArn && application.desiredKeyArn !== keyArn
        ? `, overrides the key ${application.name} declares (${application.desiredKeyArn})`
        : '';
    return { ...u, what: `${u.what}${overrides}`, ...(managedBy ? { managedBy } : {}) };
  };
  if (input.scan) {
    const target = {
      region: key.spec.region ?? input.scan.region,
      ...(key.spec.roleArn ? { roleArn: key.spec.roleArn } : {}),
    };
    const options = { pace: async () => {} };
    const scanned = await scanKeyUsers(input.scan.aws, target, options);
    const onKey = scanned.users.filter((u) => u.keyRef === keyArn || !isKeyArn(u.keyRef));
    const grants = await grantUsers(input.scan.aws, target, keyArn, options);
    const seen = `aws (scanned now, ${target.region})`;
    return {
      keyArn,
      rows: [
        ...usageRows(uses, [...onKey, ...grants].map(withManager), seen),
        ...unreadRows(scanned.skipped, seen),
      ],
    };
  }
  const usage = key.status?.usage;
  const seen = usage?.lastInventoryTime ? `aws (inventory ${usage.lastInventoryTime})` : 'aws';
  const rows = [
    ...usageRows(uses, (usage?.unmanagedUsers ?? []).map(withManager), seen),
    ...unreadRows(usage?.unread ?? [], seen),
  ];
  if (usage && usage.aws > (usage.unmanagedUsers?.length ?? 0))
    rows.push({
      user: `(${usage.aws - (usage.unmanagedUsers?.length ?? 0)} more AWS users, managed or not listed: use --scan)`,
      how: '',
      managedBy: '',
      seen,
    });
  return { keyArn, rows };
}
