// One real control plane (etcd + kube-apiserver) for the whole integration run, shared by every
// test file. Tests reach it through test/integration/support/cluster.ts, which reads what is
// provided here; each test isolates itself in its own namespace.

import type { TestProject } from 'vitest/node';
import { startControlPlane } from '../../src/dev/devenv/control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig (system:masters). */
    kubeconfigPath: string;
    /** gitVersion of the running kube-apiserver, e.g. v1.35.4. */
    kubeVersion: string;
    apiServerUrl: string;
    etcdUrl: string;
    /** The control plane's working dir; holds the client CA used to mint identities. */
    controlPlaneDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const controlPlane = await startControlPlane();
  console.log(
    `kube-apiserver ${controlPlane.version} at ${controlPlane.server} ` +
      `(etcd ${controlPlane.etcdUrl}, started in ${((Date.now() - started) / 1000).toFixed(1)}s)`,
  );
  project.provide('kubeconfigPath', controlPlane.kubeconfigPath);
  project.provide('kubeVersion', controlPlane.version);
  project.provide('apiServerUrl', controlPlane.server);
  project.provide('etcdUrl', controlPlane.etcdUrl);
  project.provide('controlPlaneDir', controlPlane.dir);
  return () => controlPlane.stop();
}
