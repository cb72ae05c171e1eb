// Renders the generated CRD manifests. Pure: returns file name -> content, so the writer, the
// staleness check in CI and the tests all use the same bytes.

import { stringify } from 'yaml';
import { customResourceDefinition, kinds } from './kinds.ts';
import { group } from './shared.ts';

const header = '# Generated from src/api by `npm run crds`. Do not edit: change src/api and regenerate.\n';

export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const def of kinds) {
    files.set(
      `${def.plural}.${group}.yaml`,
      header + stringify(customResourceDefinition(def), { lineWidth: 0 }),
    );
  }
  return files;
}

/** Directories that hold a copy of the generated CRDs (the Helm chart's once it exists). */
export const crdDirectories = ['crds', 'charts/cmk-operator/crds'] as const;
