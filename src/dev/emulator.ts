// `npm run emulator` (node src/dev/main.ts emulator): runs the local AWS emulator in the foreground
// until interrupted and prints the environment settings that point the AWS SDK (and so the
// operator) at it.

import { startEmulator } from '../../emulator/index.ts';
import { defineCommand } from '../cli/command.ts';

export const emulatorTestCredentials = {
  AWS_ACCESS_KEY_ID: 'AKIAEMULATORADMIN0001',
  AWS_SECRET_ACCESS_KEY: 'emulator-secret',
} as const;

export function emulatorEnv(url: string, region = 'us-east-1'): Record<string, string> {
  return { AWS_ENDPOINT_URL: url, AWS_REGION: region, ...emulatorTestCredentials };
}

export const emulatorCli = defineCommand({
  name: 'node src/dev/main.ts emulator',
  description:
    'Runs the local AWS emulator (KMS, Managed Flink, Keyspaces, EMR Serverless, STS) on one port.',
  flags: {
    port: {
      type: 'number',
      integer: true,
      min: 0,
      max: 65535,
      default: 4599,
      description: 'port to listen on (0 picks a free one)',
    },
    host: {
      type: 'string',
      metavar: 'ADDR',
      defaultText: '127.0.0.1',
      description: 'loopback address to bind',
    },
    seed: {
      type: 'string',
      metavar: 'FILE',
      description: 'YAML or JSON seed (principals, keys, applications, tables)',
    },
  },
});

export async function emulatorCommand(args: string[]): Promise<number> {
  const parsed = emulatorCli.parse(args);
  if (!parsed.ok) return parsed.exitCode;
  const { port, host, seed } = parsed.values;
  const emulator = await startEmulator({
    port,
    ...(host ? { host } : {}),
    ...(seed ? { seedFile: seed } : {}),
  });
  process.stdout.write(`AWS emulator listening on ${emulator.url}\n`);
  for (const [k, v] of Object.entries(emulatorEnv(emulator.url))) process.stdout.write(`export ${k}=${v}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emulator.close();
  return 0;
}
