// The command-line entry points when their reader stops early (`kubectl cmk usage KEY | head`): the
// pipe closes under the rest of the output, and the command ends quietly with its exit code, not
// with an unhandled EPIPE and a stack trace on stderr.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const node24 = `${root}node_modules/.bin/node`;

/** Runs an entry point whose stdout the reader closes before it writes anything. */
function withClosedOutput(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(node24, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
  });
}

describe('an entry point whose output is closed early', () => {
  it.each([
    ['kubectl-cmk --help', ['bin/kubectl-cmk.ts', '--help']],
    ['cmk-operator --help', ['bin/cmk-operator.ts', '--help']],
    ['cmk-operator run --help', ['bin/cmk-operator.ts', 'run', '--help']],
  ])('%s ends with exit code 0 and nothing on stderr', async (_name, args) => {
    const result = await withClosedOutput(args);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
