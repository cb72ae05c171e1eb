// Entry point for every command of the `cmk-operator` binary. Each sub-command lives in its own
// module and is loaded on demand, so `cmk-operator emulator` does not pay for the Kubernetes client.

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: {
    summary: 'run the operator (kubeconfig or in-cluster; AWS from the SDK default chain)',
    load: async () => (await import('./run.ts')).runCommand,
  },
  emulator: {
    summary: 'run the local AWS emulator (KMS, Managed Flink, Keyspaces, EMR Serverless, STS)',
    load: async () => (await import('./emulator.ts')).emulatorCommand,
  },
  testenv: {
    summary: 'start or stop the local control plane and emulator for tests (up | down | status)',
    load: async () => (await import('./testenv.ts')).testenvCommand,
  },
  crds: {
    summary: 'write the CRD manifests generated from src/api (--check: fail if they are stale)',
    load: async () => (await import('./crds.ts')).crdsCommand,
  },
  playground: {
    summary: 'start a local control plane and emulator and show how to use them',
    load: async () => (await import('./playground.ts')).playgroundCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: cmk-operator <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`cmk-operator: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let run: Command;
  try {
    run = await command.load();
  } catch (e) {
    // The container image ships only what `run` needs; the development commands are not in it.
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(
        `cmk-operator: the "${name}" command is not part of this build (${(e as Error).message.split('\n')[0]}); run it from a source checkout\n`,
      );
      return 2;
    }
    throw e;
  }
  return run(rest);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
