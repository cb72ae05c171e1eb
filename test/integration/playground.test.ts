// The README's first command works: `npm run playground` starts its own control plane and
// emulator, runs the operator, applies examples/, and every example object becomes Ready.

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('the playground', () => {
  it('converges every example object and exits cleanly with --exit-when-ready', async () => {
    const child = spawn(
      process.execPath,
      ['src/dev/main.ts', 'playground', '--exit-when-ready', '--timeout', '150'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output.slice(-3000)).toBe(0);
    expect(output).toMatch(/every object is Ready after [\d.]+ s/);
    for (const kind of [
      'KmsKey',
      'FlinkApplication',
      'KeyspacesTable',
      'EmrServerlessApplication',
      'EmrServerlessJobRun',
    ]) {
      expect(output).toContain(kind);
    }
  }, 200_000);
});
