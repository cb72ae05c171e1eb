// `cmk-operator playground`: a local control plane and the AWS emulator in the foreground, with
// directions for kubectl and the AWS SDK; Ctrl-C stops everything. A later issue adds the operator,
// the CRDs and example workloads.

import { findBinaries } from '../devenv/binaries.ts';
import { startControlPlane } from '../devenv/control-plane.ts';
import {
  emulatorAwsEnvironment,
  type LocalEmulator,
  shutdownSignal,
  startEmulatorIfAvailable,
} from './testenv.ts';

export async function playgroundCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      'usage: cmk-operator playground\n\nstarts a local control plane and emulator; Ctrl-C stops them\n',
    );
    return 0;
  }
  const say = (message: string) => process.stdout.write(`${message}\n`);
  const stopping = shutdownSignal();
  const binaries = await findBinaries();
  say('starting etcd and kube-apiserver...');
  const controlPlane = await startControlPlane({ binaries });
  let emulator: LocalEmulator | undefined;
  try {
    emulator = await startEmulatorIfAvailable(say);
    say('');
    say(`kube-apiserver ${controlPlane.version} at ${controlPlane.server}`);
    say(`kubeconfig: ${controlPlane.kubeconfigPath}`);
    if (emulator) say(`AWS emulator: ${emulator.url}`);
    say('');
    say('In another shell:');
    say(`  export KUBECONFIG=${controlPlane.kubeconfigPath}`);
    say(`  alias kubectl=${binaries.kubectl}`);
    say('  kubectl get namespaces');
    if (emulator) {
      say(`  export AWS_ENDPOINT_URL=${emulator.url}`);
      for (const [name, value] of Object.entries(emulatorAwsEnvironment)) say(`  export ${name}=${value}`);
    }
    say('');
    say('Ctrl-C stops everything.');
    await stopping;
    say('stopping...');
  } finally {
    await emulator?.close();
    await controlPlane.stop();
  }
  return 0;
}
