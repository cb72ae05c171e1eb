// Entry point for the development commands (`npm run emulator|testenv|playground|crds`), apart from
// the production entry (bin/cmk-operator.ts -> src/cli/main.ts, which has only `run`). Nothing under
// src/dev/ is in the container image, and no production module imports it: the local control plane
// (src/dev/devenv/), the AWS emulator and the packages only they use stay out of the operator.
//
//   node src/dev/main.ts <command> [options]

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  emulator: {
    summary: 'run the local AWS emulator (KMS, Managed Flink, Keyspaces, EMR Serverless, STS)',
    load: async () => (await import('./emulator.ts')).emulatorCommand,
  },
  testenv: {
    summary: 'start or stop the local control plane and emulator for tests (up | down | status)',
    load: async () => (await import('./testenv.ts')).testenvCommand,
  },
  playground: {
    summary: 'start a local control plane and emulator, run the operator and show it converge',
    load: async () => (await import('./playground.ts')).playgroundCommand,
  },
  crds: {
    summary: 'write the CRD manifests and docs generated from src/api (--check: fail if stale)',
    load: async () => (await import('./crds.ts')).crdsCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return (
    `usage: node src/dev/main.ts <command> [options]   (the development commands)\n\n` +
    `commands:\n${lines.join('\n')}\n\nThe operator itself: node bin/cmk-operator.ts run --help\n`
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`src/dev/main.ts: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
