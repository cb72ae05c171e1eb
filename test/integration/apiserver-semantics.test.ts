// The apiserver behaviours the operator is built on, proven against the real kube-apiserver with a
// throwaway CRD (widgets.semantics.test.cmk.io): structural schemas, CEL transition rules, the
// status subresource, finalizers and guarded JSON Patch, optimistic concurrency, watches and their
// expiry, and RBAC for a freshly minted identity. If one of these fails after a Kubernetes upgrade,
// the operator's assumptions need another look.

import { ApiextensionsV1Api, CoreV1Api, RbacAuthorizationV1Api, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminIdentity,
  compactEtcd,
  createNamespace,
  eventually,
  kubeVersion,
  mintClusterIdentity,
  uniqueName,
} from './support/cluster.ts';

const group = 'semantics.test.cmk.io';
const crdName = `widgets.${group}`;

interface Widget {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec: { size: number; color?: string };
  status?: { phase?: string };
}

interface Status {
  kind: 'Status';
  code: number;
  reason: string;
  message: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

// Sent as raw JSON: client-node's typed models would drop keys spelled the OpenAPI way, such as
// `x-kubernetes-validations`.
const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: crdName },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: {
                    type: 'integer',
                    minimum: 0,
                    'x-kubernetes-validations': [{ rule: 'self >= oldSelf', message: 'size may only grow' }],
                  },
                  color: { type: 'string' },
                },
              },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

const admin = adminIdentity();
let namespace: string;
/** A resourceVersion written before the widget CRD existed: older than anything its watch cache holds. */
let resourceVersionBeforeCrd: string;

const widgetsPath = (ns = namespace) => `/apis/${group}/v1/namespaces/${ns}/widgets`;
const widgetPath = (name: string) => `${widgetsPath()}/${name}`;

function widget(name: string, spec: Widget['spec'], metadata: Partial<Widget['metadata']> = {}): Widget {
  return { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name, ...metadata }, spec };
}

async function createWidget(body: Widget): Promise<Widget> {
  const response = await admin.request('POST', widgetsPath(), body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as Widget;
}

async function getWidget(name: string): Promise<Widget> {
  const response = await admin.request('GET', widgetPath(name));
  expect(response.status).toBe(200);
  return response.body as Widget;
}

function mergePatch(path: string, patch: unknown) {
  return admin.request('PATCH', path, patch, { contentType: 'application/merge-patch+json' });
}

function jsonPatch(path: string, operations: unknown[]) {
  return admin.request('PATCH', path, operations, { contentType: 'application/json-patch+json' });
}

beforeAll(async () => {
  namespace = await createNamespace('semantics');
  const ns = await admin.makeApiClient(CoreV1Api).readNamespace({ name: namespace });
  resourceVersionBeforeCrd = ns.metadata!.resourceVersion!;

  const extensions = admin.makeApiClient(ApiextensionsV1Api);
  const created = await admin.request(
    'POST',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    widgetCrd,
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await eventually(
    async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: crdName });
      const established = crd.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    },
    { what: `${crdName} Established` },
  );
  // Established can precede the handler serving the new resource by a moment.
  await eventually(
    async () => ((await admin.request('GET', widgetsPath())).status === 200 ? true : undefined),
    {
      what: 'widgets served',
    },
  );
});

afterAll(async () => {
  await admin.makeApiClient(ApiextensionsV1Api).deleteCustomResourceDefinition({ name: crdName });
});

describe('the control plane', () => {
  it('is a real kube-apiserver of the pinned release', async () => {
    const response = await admin.request('GET', '/version');
    expect(response.status).toBe(200);
    expect((response.body as { gitVersion: string }).gitVersion).toBe(kubeVersion());
    expect(kubeVersion()).toMatch(/^v1\.\d+\.\d+/);
  });
});

describe('structural schemas', () => {
  it('refuses a CRD whose schema is not structural', async () => {
    const [version] = widgetCrd.spec.versions;
    const nonStructural = {
      ...widgetCrd,
      metadata: { name: `gadgets.${group}` },
      spec: {
        ...widgetCrd.spec,
        names: { plural: 'gadgets', kind: 'Gadget' },
        // `spec` declares properties but no type: not structural, so apiextensions.k8s.io/v1 refuses it.
        versions: [
          {
            ...version,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { properties: { x: { type: 'string' } } } },
              },
            },
          },
        ],
      },
    };
    const response = await admin.request(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      nonStructural,
    );
    expect(response.status).toBe(422);
    expect((response.body as Status).message).toMatch(/properties\[spec\]\.type: Required value/);
  });

  it('refuses an object with a wrongly typed field, naming the field', async () => {
    const response = await admin.request('POST', widgetsPath(), {
      ...widget('wrong-type', { size: 1 }),
      spec: { size: 'big' },
    });
    expect(response.status).toBe(422);
    const status = response.body as Status;
    expect(status.reason).toBe('Invalid');
    expect(status.message).toContain('spec.size');
    expect(status.details?.causes?.map((cause) => cause.field)).toContain('spec.size');
    expect((await admin.request('GET', widgetPath('wrong-type'))).status).toBe(404);
  });
});

describe('CEL validation rules', () => {
  it('rejects an update that breaks a transition rule, with the rule message', async () => {
    const name = uniqueName('grow');
    await createWidget(widget(name, { size: 3 }));

    const shrink = await mergePatch(widgetPath(name), { spec: { size: 2 } });
    expect(shrink.status).toBe(422);
    expect((shrink.body as Status).message).toContain('spec.size: Invalid value: 2: size may only grow');
    expect((await getWidget(name)).spec.size).toBe(3);

    const grow = await mergePatch(widgetPath(name), { spec: { size: 5 } });
    expect(grow.status).toBe(200);
    expect((await getWidget(name)).spec.size).toBe(5);
  });
});

describe('the status subresource', () => {
  it('keeps spec and status writes apart, and moves generation only on spec changes', async () => {
    const name = uniqueName('status');
    const created = await createWidget(widget(name, { size: 1 }));
    expect(created.metadata.generation).toBe(1);

    // A write to the main resource carrying a status: spec changes, status is dropped.
    const mainWrite = await admin.request('PUT', widgetPath(name), {
      ...created,
      spec: { size: 1, color: 'blue' },
      status: { phase: 'Forged' },
    });
    expect(mainWrite.status).toBe(200);
    let current = await getWidget(name);
    expect(current.spec.color).toBe('blue');
    expect(current.status).toBeUndefined();
    expect(current.metadata.generation).toBe(2);

    // A write to /status carrying a spec change: status changes, spec and generation do not.
    const statusWrite = await admin.request('PUT', `${widgetPath(name)}/status`, {
      ...current,
      spec: { size: 9, color: 'red' },
      status: { phase: 'Ready' },
    });
    expect(statusWrite.status).toBe(200);
    current = await getWidget(name);
    expect(current.status?.phase).toBe('Ready');
    expect(current.spec).toEqual({ size: 1, color: 'blue' });
    expect(current.metadata.generation).toBe(2);

    // Metadata-only changes leave generation alone too.
    expect((await mergePatch(widgetPath(name), { metadata: { labels: { touched: 'yes' } } })).status).toBe(
      200,
    );
    current = await getWidget(name);
    expect(current.metadata.labels).toEqual({ touched: 'yes' });
    expect(current.metadata.generation).toBe(2);
  });
});

describe('finalizers', () => {
  const ours = `${group}/ours`;
  const theirs = `${group}/theirs`;

  it('hold a deleted object until the last one is removed, and a guarded JSON Patch fails on a concurrent change', async () => {
    const name = uniqueName('final');
    await createWidget(widget(name, { size: 1 }, { finalizers: [ours, theirs] }));

    const deletion = await admin.request('DELETE', widgetPath(name));
    expect(deletion.status).toBe(200);
    let current = await getWidget(name);
    expect(current.metadata.deletionTimestamp).toBeTruthy();
    expect(current.metadata.finalizers).toEqual([ours, theirs]);

    // We read [ours, theirs]; meanwhile the other controller removes its own finalizer.
    const seenByUs = current.metadata.finalizers!;
    const theirRemoval = await jsonPatch(widgetPath(name), [
      { op: 'test', path: '/metadata/finalizers', value: seenByUs },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ]);
    expect(theirRemoval.status).toBe(200);

    // Our patch, guarded by what we read, must not apply to the list that changed under it.
    const staleRemoval = await jsonPatch(widgetPath(name), [
      { op: 'test', path: '/metadata/finalizers', value: seenByUs },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
    expect(staleRemoval.status).toBe(422);
    current = await getWidget(name);
    expect(current.metadata.finalizers).toEqual([ours]);

    // Re-read, re-guard, remove: the last finalizer gone, the object goes.
    const freshRemoval = await jsonPatch(widgetPath(name), [
      { op: 'test', path: '/metadata/finalizers', value: current.metadata.finalizers },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
    expect(freshRemoval.status).toBe(200);
    expect((await admin.request('GET', widgetPath(name))).status).toBe(404);
  });
});

describe('optimistic concurrency', () => {
  it('answers 409 Conflict to an update based on a stale resourceVersion', async () => {
    const name = uniqueName('conflict');
    const original = await createWidget(widget(name, { size: 1 }));
    expect((await mergePatch(widgetPath(name), { spec: { color: 'green' } })).status).toBe(200);

    const stale = await admin.request('PUT', widgetPath(name), { ...original, spec: { size: 2 } });
    expect(stale.status).toBe(409);
    expect((stale.body as Status).reason).toBe('Conflict');
    expect(await getWidget(name)).toMatchObject({ spec: { size: 1, color: 'green' } });
  });
});

interface WatchEvent {
  type: string;
  object: { metadata?: { name?: string }; code?: number; reason?: string; message?: string };
}

/** Watches widgets in the test namespace from `resourceVersion`, collecting events until `until` holds. */
async function watchWidgets(
  resourceVersion: string,
  until: (events: WatchEvent[]) => boolean,
  act: () => Promise<void> = async () => {},
): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  let finish: (error?: unknown) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const controller = await new Watch(admin.kubeConfig).watch(
    widgetsPath(),
    { resourceVersion },
    (type, object) => {
      events.push({ type, object });
      if (until(events)) finish();
    },
    (error) => (until(events) ? finish() : finish(error ?? new Error('watch closed early'))),
  );
  const timeout = setTimeout(() => finish(new Error(`watch saw only ${JSON.stringify(events)}`)), 20_000);
  try {
    await act();
    await finished;
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  return events;
}

describe('watches', () => {
  it('deliver ADDED, MODIFIED and DELETED for an object', async () => {
    const list = await admin.request('GET', widgetsPath());
    const from = (list.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const name = uniqueName('watched');
    const deleted = (events: WatchEvent[]) =>
      events.some((event) => event.type === 'DELETED' && event.object.metadata?.name === name);

    const events = await watchWidgets(from, deleted, async () => {
      await createWidget(widget(name, { size: 1 }));
      expect((await mergePatch(widgetPath(name), { spec: { size: 2 } })).status).toBe(200);
      expect((await admin.request('DELETE', widgetPath(name))).status).toBe(200);
    });

    const forName = events.filter((event) => event.object.metadata?.name === name).map((event) => event.type);
    expect(forName).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('answer 410 Gone (Expired) to a resourceVersion older than the history kept', async () => {
    // The watch cache serves watches from its own window, which starts when the resource is first
    // served; etcd's compaction only matters without the cache. An RV from before the CRD existed
    // is outside the window, and after compaction it is outside etcd's history too, so either
    // path must answer Expired.
    for (let i = 0; i < 5; i++) await createWidget(widget(uniqueName('churn'), { size: i }));
    await compactEtcd();

    const events = await watchWidgets(resourceVersionBeforeCrd, (seen) =>
      seen.some((e) => e.type === 'ERROR'),
    );
    const error = events.find((event) => event.type === 'ERROR');
    expect(error?.object).toMatchObject({ code: 410, reason: 'Expired' });
    expect(error?.object.message).toMatch(/too old resource version/);
  });
});

describe('RBAC for a minted identity', () => {
  it('forbids everything until a Role and RoleBinding grant it, and then only that', async () => {
    const reader = await mintClusterIdentity(uniqueName('reader'), ['semantics:readers']);
    const name = uniqueName('guarded');
    await createWidget(widget(name, { size: 1 }));

    expect((await reader.request('GET', widgetPath(name))).status).toBe(403);
    const deniedList = await reader.request('GET', widgetsPath());
    expect(deniedList.status).toBe(403);
    expect((deniedList.body as Status).message).toContain(
      `User "${reader.user}" cannot list resource "widgets"`,
    );

    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'widget-reader' },
        rules: [{ apiGroups: [group], resources: ['widgets'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'widget-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'widget-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'semantics:readers' }],
      },
    });

    // The authorizer reads RBAC objects through an informer: allow a moment for it to catch up.
    const allowed = await eventually(
      async () => {
        const response = await reader.request('GET', widgetsPath());
        return response.status === 200 ? response : undefined;
      },
      { what: 'list allowed after the RoleBinding' },
    );
    const names = (allowed.body as { items: Widget[] }).items.map((item) => item.metadata.name);
    expect(names).toContain(name);
    expect((await reader.request('GET', widgetPath(name))).status).toBe(200);
    // Only what was granted: no writes, and nothing in other namespaces.
    expect((await reader.request('DELETE', widgetPath(name))).status).toBe(403);
    expect((await reader.request('GET', widgetsPath('default'))).status).toBe(403);
  });
});
