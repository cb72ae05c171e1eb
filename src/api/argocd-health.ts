// Argo CD health checks, one health.lua per kind in Argo CD's resource_customizations layout,
// rendered from argocd/health.lua.template so the kinds cannot drift apart. Pure apart from reading
// the template.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface HealthVariant {
  kind: string;
  /** Domain conditions that make the object Degraded as soon as they are False. */
  degradedWhenFalse: string[];
}

const variants: HealthVariant[] = [
  { kind: 'KmsKey', degradedWhenFalse: ['KeyUsable'] },
  { kind: 'FlinkApplication', degradedWhenFalse: [] },
  { kind: 'KeyspacesTable', degradedWhenFalse: [] },
  { kind: 'EmrServerlessApplication', degradedWhenFalse: [] },
  { kind: 'EmrServerlessJobRun', degradedWhenFalse: [] },
  { kind: 'EmrServerlessSession', degradedWhenFalse: [] },
];

const templateHeaderLines = 3;

function degradedDoc(v: HealthVariant): string {
  return v.degradedWhenFalse.includes('KeyUsable')
    ? [
        '--   Degraded     Stalled=True (only a change to the spec helps), KeyUsable=False (the key',
        '--                is missing, disabled, pending deletion or unfit for use), or Ready=False',
        '--                for any other reason;',
      ].join('\n')
    : [
        '--   Degraded     Stalled=True (only a change to the spec helps), or Ready=False for any',
        '--                other reason;',
      ].join('\n');
}

/** Path (relative to the repository) -> rendered health.lua. */
export function renderArgoHealthChecks(root: string): Map<string, string> {
  const template = readFileSync(join(root, 'argocd', 'health.lua.template'), 'utf8')
    .split('\n')
    .slice(templateHeaderLines)
    .join('\n');
  const out = new Map<string, string>();
  for (const v of variants) {
    const list = v.degradedWhenFalse.length
      ? `{ ${v.degradedWhenFalse.map((c) => `"${c}"`).join(', ')} }`
      : '{}';
    out.set(
      `argocd/health/cmk.io/${v.kind}/health.lua`,
      template
        .replaceAll('{{KIND}}', v.kind)
        .replace('{{DEGRADED_DOC}}', degradedDoc(v))
        .replace('{{DEGRADED_WHEN_FALSE}}', list),
    );
  }
  return out;
}
