// What `npm test` installs before the tests (scripts/test-setup.ts): moto only when the arguments can
// select its test, and the test pointed at the venv the install script fills.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { motoVersion } from '../../scripts/moto-conformance.ts';
import { motoNeeded, motoPython, motoTestFile } from '../../scripts/test-setup.ts';

describe('motoNeeded', () => {
  it.each([
    ['no arguments: every test', [], true],
    ['the emulator project', ['--project', 'emulator'], true],
    ['--project=emulator', ['--project=emulator'], true],
    ['the unit project only', ['--project', 'unit'], false],
    ['unit and integration', ['--project', 'unit', '--project=integration'], false],
    ['unit and emulator', ['--project', 'unit', '--project', 'emulator'], true],
    ['the moto test file', ['--project', 'emulator', motoTestFile], true],
    ['a directory holding it', ['test/emulator/'], true],
    ['another test file', ['test/emulator/kms.test.ts'], false],
    ['other test files', ['test/unit/cql.test.ts', 'test/adapters/x.test.ts'], false],
    ['a bare word may be a filter or a flag value: install', ['--reporter', 'verbose'], true],
    ['a name filter', ['-t', 'conformance'], true],
  ])('%s', (_, args, expected) => {
    expect(motoNeeded(args)).toBe(expected);
  });
});

describe('motoPython', () => {
  it('is the venv scripts/moto-venv.sh installs into: CMK_MOTO_VENV, else the cache under HOME', () => {
    expect(motoPython({ CMK_MOTO_VENV: '/tmp/v' })).toBe('/tmp/v/bin/python');
    expect(motoPython({})).toBe(`${homedir()}/.cache/cmk-operator/venv/bin/python`);
  });

  it('the install script pins the version the conformance test expects', () => {
    const script = readFileSync('scripts/moto-venv.sh', 'utf8');
    expect(script).toContain(`MOTO_VERSION="\${CMK_MOTO_VERSION:-${motoVersion}}"`);
    expect(script).toContain(`VENV="\${CMK_MOTO_VENV:-$HOME/.cache/cmk-operator/venv}"`);
  });
});
