// Where the bytes of a sampling heap profile (scripts/alloc-sampler.ts) were allocated: by function
// (self), by every function on the stack (inclusive: a function and all it called), and with
// `--under NAME` the callees of the functions whose label starts with NAME, two levels down.
// Labels are `function file:line` of the running code (the bundle's chunks, for the image).
//
//   node scripts/alloc-analysis.ts PROFILE.json [--top 40] [--under 'writeStatusIfChanged']

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, under: { type: 'string' } },
});
const file = positionals[0];
if (!file) throw new Error('usage: alloc-analysis.ts PROFILE.json [--top N] [--under NAME]');
const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode }).head;
const top = Number(values.top);

const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').at(-1) ?? ''}:${n.callFrame.lineNumber + 1}`;
const total = (n: ProfileNode): number => n.children.reduce((sum, c) => sum + total(c), n.selfSize);
const mib = (bytes: number) => (bytes / 1048576).toFixed(1).padStart(8);
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (MiB)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${mib(v)}  ${k}`);
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const under = new Map<string, number>();
function walk(n: ProfileNode, onStack: Set<string>) {
  const l = label(n);
  add(self, l, n.selfSize);
  const stack = onStack.has(l) ? onStack : new Set(onStack).add(l);
  for (const k of stack) add(inclusive, k, n.selfSize);
  if (values.under && l.startsWith(values.under) && !onStack.has(l)) {
    for (const c of n.children) {
      add(under, label(c), total(c));
      for (const g of c.children) add(under, `${label(c)} > ${label(g)}`, total(g));
    }
    add(under, '(self)', n.selfSize);
  }
  for (const c of n.children) walk(c, stack);
}
walk(head, new Set());
console.log(`sampled: ${mib(total(head)).trim()} MiB`);
print('self', self);
print('inclusive', inclusive);
if (values.under) print(`under ${values.under}`, under);
