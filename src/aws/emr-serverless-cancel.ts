// CancelJobRun for the EmrServerlessJobRun controller, beside the EMR Serverless adapter
// (emr-serverless.ts), which by contract never cancels jobs. Cancelling is destructive (TRAP-11), so
// it is only called when an object asked for it explicitly: the job-run finalizer
// (cmk.io/cancel-on-delete: "true") and an EmrServerlessApplication with whenStarted: StopAndUpdate
// and cancelRunningJobs: true.
//
// Guarantees: one CancelJobRun call, no retry beyond the SDK's own; a job run that no longer exists
// is reported as such, not as an error; every other failure leaves as a classified AwsCallError
// (a run that finished meanwhile is a ValidationException -> InvalidSpec; the caller re-reads it).

import { CancelJobRunCommand } from '@aws-sdk/client-emr-serverless';
import type { AwsClients, AwsTarget } from './clients.ts';
import { AwsCallError, awsCall } from './errors.ts';

export interface CancelledJobRun {
  outcome: 'Cancelling' | 'NotFound';
  requestId?: string;
}

/** Requests cancellation of a job run (it moves to CANCELLING, then CANCELLED). */
export async function cancelJobRun(
  clients: AwsClients,
  target: AwsTarget,
  ids: { applicationId: string; jobRunId: string },
): Promise<CancelledJobRun> {
  try {
    const out = await awsCall('CancelJobRun', () =>
      clients.emrServerless(target).send(new CancelJobRunCommand(ids)),
    );
    return {
      outcome: 'Cancelling',
      ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
    };
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return { outcome: 'NotFound' };
    throw e;
  }
}
