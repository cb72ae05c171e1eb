// Entry point of the `cmk-operator` binary (bin/cmk-operator.ts) and of the container image: the
// operator, `run`, and nothing else. The development commands (emulator, testenv, playground, crds)
// have their own entry point, src/dev/main.ts, which nothing here imports: the image carries neither
// src/dev/ nor the packages only it uses (test/unit/dockerfile.test.ts walks the import graph).

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: {
    summary: 'run the operator (kubeconfig or in-cluster; AWS from the SDK default chain)',
    // Loaded on demand so that `--help` does not pay for the operator.
    load: async () => (await import('./run.ts')).runCommand,
  },
};

/** Commands that moved to the development entry point, for a helpful message. */
const developmentCommands = ['emulator', 'testenv', 'playground', 'crds'];

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return (
    `usage: cmk-operator <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    `cmk-operator run --help lists its options. Development commands (${developmentCommands.join(', ')}):\n` +
    `node src/dev/main.ts in a source checkout.\n`
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(
      developmentCommands.includes(name)
        ? `cmk-operator: "${name}" is a development command, not part of the operator: run \`node src/dev/main.ts ${name}\` (or \`npm run ${name}\`) in a source checkout\n`
        : `cmk-operator: unknown command "${name}"\n\n${usage()}`,
    );
    return 2;
  }
  return (await command.load())(rest);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
