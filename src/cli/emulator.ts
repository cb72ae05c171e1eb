// `cmk-operator emulator`: runs the local AWS emulator in the foreground until interrupted and prints
// the environment settings that point the AWS SDK (and so the operator) at it.

import { parseArgs } from 'node:util';
import { startEmulator } from '../../emulator/index.ts';

export const emulatorTestCredentials = {
  AWS_ACCESS_KEY_ID: 'AKIAEMULATORADMIN0001',
  AWS_SECRET_ACCESS_KEY: 'emulator-secret',
} as const;

export function emulatorEnv(url: string, region = 'us-east-1'): Record<string, string> {
  return { AWS_ENDPOINT_URL: url, AWS_REGION: region, ...emulatorTestCredentials };
}

const help = `usage: cmk-operator emulator [--port N] [--host ADDR] [--seed FILE]

Runs the local AWS emulator (KMS, Managed Flink, Keyspaces, EMR Serverless, STS) on one port.
  --port N      port to listen on (default 4599; 0 picks a free one)
  --host ADDR   loopback address to bind (default 127.0.0.1)
  --seed FILE   YAML or JSON seed (principals, keys, applications, tables)
`;

export async function emulatorCommand(args: string[]): Promise<number> {
  let values: { port?: string; host?: string; seed?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const port = values.port === undefined ? 4599 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be an integer from 0 to 65535, got ${values.port}\n`);
    return 2;
  }
  const emulator = await startEmulator({
    port,
    ...(values.host ? { host: values.host } : {}),
    ...(values.seed ? { seedFile: values.seed } : {}),
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
