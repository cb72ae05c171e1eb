// `npm run crds` (node src/dev/main.ts crds [--check]): writes the CRD manifests generated from
// src/api into crds/ (and the Helm chart's crds/ when the chart exists). With --check, writes
// nothing and exits 1 listing every stale, missing or extra file, so CI fails when someone edits
// src/api and forgets to regenerate.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderArgoHealthChecks } from '../api/argocd-health.ts';
import { renderApiReference } from '../api/reference.ts';
import { crdDirectories, renderCrds } from '../api/render.ts';
import { defineCommand } from '../cli/command.ts';
import { operatorIamPolicy, renderKeyPolicyDocs } from '../keys/iam.ts';

export function staleCrdFiles(root: string): string[] {
  const files = renderCrds();
  const problems: string[] = [];
  for (const dir of crdDirectories) {
    const full = join(root, dir);
    if (dir !== 'crds' && !existsSync(join(full, '..'))) continue;
    for (const [name, content] of files) {
      const path = join(full, name);
      if (!existsSync(path)) problems.push(`${join(dir, name)}: missing`);
      else if (readFileSync(path, 'utf8') !== content) problems.push(`${join(dir, name)}: stale`);
    }
    if (existsSync(full)) {
      for (const name of readdirSync(full)) {
        if (name.endsWith('.yaml') && !files.has(name))
          problems.push(`${join(dir, name)}: not generated (remove it)`);
      }
    }
  }
  for (const [path, content] of [...generatedDocs(), ...renderArgoHealthChecks(root)]) {
    const full = join(root, path);
    if (!existsSync(full)) problems.push(`${path}: missing`);
    else if (readFileSync(full, 'utf8') !== content) problems.push(`${path}: stale`);
  }
  return problems;
}

/** Documentation generated from the code: path -> content. */
function generatedDocs(): Array<[string, string]> {
  return [
    [apiReferencePath, renderApiReference()],
    ['docs/key-policies.md', renderKeyPolicyDocs()],
    ['docs/iam-policy.json', `${JSON.stringify(operatorIamPolicy(), null, 2)}\n`],
  ];
}

/** The generated CRD reference. */
export const apiReferencePath = 'docs/api-reference.md';

export const crdsCli = defineCommand({
  name: 'node src/dev/main.ts crds',
  description:
    "Writes the CRD manifests generated from src/api into crds/ (and the chart's crds/), and the generated docs.",
  flags: {
    check: {
      type: 'boolean',
      description: 'write nothing; exit 1 listing every stale, missing or extra file',
    },
    root: {
      type: 'string',
      metavar: 'DIR',
      defaultText: 'the current directory',
      description: 'the repository root',
    },
  },
});

export async function crdsCommand(args: string[]): Promise<number> {
  const parsed = crdsCli.parse(args);
  if (!parsed.ok) return parsed.exitCode;
  const { values } = parsed;
  const root = values.root ?? process.cwd();
  if (values.check) {
    const problems = staleCrdFiles(root);
    if (problems.length > 0) {
      process.stderr.write(
        `Generated CRDs are out of date (run \`npm run crds\`):\n  ${problems.join('\n  ')}\n`,
      );
      return 1;
    }
    process.stdout.write('Generated CRDs are up to date.\n');
    return 0;
  }
  const files = renderCrds();
  for (const dir of crdDirectories) {
    const full = join(root, dir);
    if (dir !== 'crds' && !existsSync(join(full, '..'))) continue;
    mkdirSync(full, { recursive: true });
    for (const name of readdirSync(full)) {
      if (name.endsWith('.yaml') && !files.has(name)) rmSync(join(full, name));
    }
    for (const [name, content] of files) writeFileSync(join(full, name), content);
    process.stdout.write(`wrote ${files.size} CRDs to ${dir}/\n`);
  }
  mkdirSync(join(root, 'docs'), { recursive: true });
  for (const [path, content] of [...generatedDocs(), ...renderArgoHealthChecks(root)]) {
    writeFileSync(join(root, path), content);
    process.stdout.write(`wrote ${path}\n`);
  }
  return 0;
}
