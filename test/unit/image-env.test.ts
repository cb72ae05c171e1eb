import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageEnv, imageNodeArgs } from '../../bench/processes.ts';

const root = join(import.meta.dirname, '../..');
const node24 = join(root, 'node_modules/.bin/node');

describe('imageEnv: the environment the Dockerfile gives the operator (what the bench runs it with)', () => {
  it.each([
    ['one variable', 'FROM node:24\nENV A=1\n', { A: '1' }],
    ['quoted values with spaces, several per line', 'FROM node:24\nENV A="x y" B=2\n', { A: 'x y', B: '2' }],
    ['a continued line', 'FROM node:24\nENV A=1 \\\n    B="2 3"\n', { A: '1', B: '2 3' }],
    [
      'only the last stage: the build stage is not the runtime',
      'FROM a AS deps\nENV A=1\nFROM b\nENV B=2\n',
      { B: '2' },
    ],
    ['comments are not instructions', 'FROM node:24\n# ENV A=1\n', {}],
  ])('%s', (_name, text, expected) => {
    expect(imageEnv(text)).toEqual(expected);
  });

  it('refuses a form it cannot read, naming the line', () => {
    expect(() => imageEnv('FROM node:24\nENV A 1\n')).toThrow(/cannot read "ENV A 1": use ENV KEY=value/);
  });
});

describe('imageNodeArgs: the Node flags of the entry point (what the bench runs the operator with)', () => {
  it.each([
    ['none', 'FROM node:24\nENTRYPOINT ["node", "bin/cmk-operator.ts"]\n', []],
    [
      'flags before the script',
      'FROM n\nENTRYPOINT ["node", "--a", "--b=1", "bin/x.ts"]\n',
      ['--a', '--b=1'],
    ],
    ['no entry point', 'FROM node:24\n', []],
    ['the last stage only', 'FROM a\nENTRYPOINT ["node", "--a", "x.ts"]\nFROM b\n', []],
  ])('%s', (_name, text, expected) => {
    expect(imageNodeArgs(text)).toEqual(expected);
  });

  it('refuses an entry point that is not node in exec form, naming it', () => {
    expect(() => imageNodeArgs('FROM n\nENTRYPOINT node bin/x.ts\n')).toThrow(
      /cannot read "ENTRYPOINT node bin\/x.ts"/,
    );
  });
});

describe('the image bounds the heap', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const env = imageEnv(dockerfile);

  it('Node starts with the flags and NODE_OPTIONS the image sets, and they bound both generations', () => {
    // A flag Node does not allow in NODE_OPTIONS (or does not know) would stop the container at start.
    const out = execFileSync(
      node24,
      [
        ...imageNodeArgs(dockerfile),
        '-e',
        `const v8 = require('node:v8');
         const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
         let keep = []; for (let i = 0; i < 3e6; i++) { keep.push({ i }); if (keep.length > 1e5) keep = []; }
         console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, young: young.space_size }))`,
      ],
      { env: { ...process.env, NODE_OPTIONS: env['NODE_OPTIONS'] ?? '' }, encoding: 'utf8' },
    );
    const { limit, young } = JSON.parse(out) as { limit: number; young: number };
    const mib = 2 ** 20;
    // Young generation at most 2 x 4 MiB (Node's default on a large machine: 128 MiB).
    expect(young).toBeLessThanOrEqual(8 * mib);
    // The ceiling: old generation 512 MiB plus the young generation's share of the limit.
    expect(limit).toBeGreaterThanOrEqual(512 * mib);
    expect(limit).toBeLessThan(640 * mib);
  });
});
