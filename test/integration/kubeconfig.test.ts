// How the operator reaches the API server, against the real one: a kubeconfig with client
// certificates, one with a token file and a CA file beside it, the pod's service account
// (KUBERNETES_SERVICE_HOST and the token/CA/namespace files, with a real service-account token from
// the TokenRequest API), and an exec plugin, which is handed to client-node.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { createKubeClient, KubeApiError } from '../../src/runtime/kube.ts';
import { inClusterAccess, loadKubeAccess } from '../../src/runtime/kubeconfig.ts';
import { adminIdentity, createNamespace } from './support/cluster.ts';

let ns: string;
let token: string;
let dir: string;
const caPem = () => readFileSync(join(inject('controlPlaneDir'), 'pki', 'ca.crt'), 'utf8');
const server = () => inject('apiServerUrl');
const namespaceType = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  namespaced: false,
  kind: 'Namespace',
};
const savedEnv = { ...process.env };

/** Who the API server thinks the caller is, from the 403 it answers (or 'allowed'). */
async function whoAmI(access: ReturnType<typeof loadKubeAccess>): Promise<string> {
  try {
    await createKubeClient(access).get(namespaceType, { name: 'kube-system' });
    return 'allowed';
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 403)
      return /User "([^"]+)"/.exec(e.message)?.[1] ?? e.message;
    throw e;
  }
}

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  ns = await createNamespace('kcfg');
  dir = mkdtempSync(join(tmpdir(), 'cmk-kubeconfig-'));
  const admin = adminIdentity();
  expect(
    (await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'op' } }))
      .status,
  ).toBe(201);
  const res = await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/op/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  });
  expect(res.status).toBe(201);
  token = (res.body as { status: { token: string } }).status.token;
});

afterEach(() => {
  process.env = { ...savedEnv };
});

describe('kubeconfig access', () => {
  it('a kubeconfig with inline client certificates (the admin)', async () => {
    expect(await whoAmI(loadKubeAccess(inject('kubeconfigPath')))).toBe('allowed');
  });

  it('a token file and a CA file next to the kubeconfig, by relative path', async () => {
    writeFileSync(join(dir, 'token'), `${token}\n`);
    writeFileSync(join(dir, 'ca.pem'), caPem());
    const file = join(dir, 'token.kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: op',
        `contexts: [{name: op, context: {cluster: c, user: op, namespace: ${ns}}}]`,
        `clusters: [{name: c, cluster: {server: "${server()}", certificate-authority: ca.pem}}]`,
        'users: [{name: op, user: {tokenFile: token}}]',
      ].join('\n'),
    );
    const access = loadKubeAccess(file);
    expect(access.namespace).toBe(ns);
    expect(await whoAmI(access)).toBe(`system:serviceaccount:${ns}:op`);
  });

  it("the pod's service account: host and port from the environment, token, CA and namespace from files", async () => {
    const sa = mkdtempSync(join(tmpdir(), 'cmk-sa-'));
    onTestFinished(() => rmSync(sa, { recursive: true, force: true }));
    writeFileSync(join(sa, 'token'), token);
    writeFileSync(join(sa, 'ca.crt'), caPem());
    writeFileSync(join(sa, 'namespace'), ns);
    const url = new URL(server());
    process.env['KUBERNETES_SERVICE_HOST'] = url.hostname;
    process.env['KUBERNETES_SERVICE_PORT'] = url.port;
    const access = inClusterAccess(sa);
    expect(access.namespace).toBe(ns);
    expect(await whoAmI(access)).toBe(`system:serviceaccount:${ns}:op`);
  });

  it('an exec plugin is run through client-node (imported only then)', async () => {
    const plugin = join(dir, 'get-token.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${token}"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const file = join(dir, 'exec.kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: op',
        'contexts: [{name: op, context: {cluster: c, user: op}}]',
        `clusters: [{name: c, cluster: {server: "${server()}", certificate-authority-data: ${Buffer.from(caPem()).toString('base64')}}}]`,
        `users: [{name: op, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}}}]`,
      ].join('\n'),
    );
    const access = loadKubeAccess(file);
    expect(await whoAmI(access)).toBe(`system:serviceaccount:${ns}:op`);
    // Its requests share the client's keep-alive pool (client-node alone makes an agent, and a new
    // connection, per request): three requests, one connection kept.
    const client = createKubeClient(access);
    try {
      for (let i = 0; i < 3; i++) await client.get(namespaceType, { name: ns }).catch(() => undefined);
      expect(client.connections()).toMatchObject({ active: 0, idle: 1 });
    } finally {
      client.close();
    }
  });

  it('errors name the file and what is missing', () => {
    const file = join(dir, 'broken.kubeconfig');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n');
    expect(() => loadKubeAccess(file)).toThrow(`kubeconfig ${file}: no context "nowhere"`);
    process.env['KUBECONFIG'] = `${file}:${file}`;
    expect(() => loadKubeAccess()).toThrow('pass the one to use with --kubeconfig');
  });
});
