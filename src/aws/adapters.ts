// The workload adapters by service: the one place the reconcile core looks an adapter up. Adding a
// service means one adapter module and one line here; the core never branches on the service.

import { emrServerlessAdapter } from './emr-serverless.ts';
import { flinkAdapter } from './flink.ts';
import { keyspacesAdapter } from './keyspaces.ts';
import type { WorkloadAdapter, WorkloadService } from './workload.ts';

export const workloadAdapters: Readonly<Record<WorkloadService, WorkloadAdapter>> = {
  ManagedFlink: flinkAdapter,
  Keyspaces: keyspacesAdapter,
  EmrServerless: emrServerlessAdapter,
};

export function adapterFor(service: WorkloadService): WorkloadAdapter {
  return workloadAdapters[service];
}
