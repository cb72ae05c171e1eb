// Rule-id citations: every `MSF-015`, `KS-011`, `TRAP-04`, ... cited in the code must be defined in
// docs/aws-behaviour.md, and the legacy forms that pointed at a document outside the repository
// (the word trap followed by a section sign or a number, a bare section sign and number, a
// parenthesised disagreement number such as D6, a path into shared/spec) must be gone.
//
// `citations` is the whole scanner: pure, one file's text in, its citations out (ranges such as
// `MSF-007..010` and lists such as `KS-007/008` expanded). The repo-wide check walks the .ts and .md
// files of src/, emulator/, test/, scripts/, bench/ and docs/ (this file and the doc itself excepted).

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const prefixes = ['AWS', 'KMS', 'MSF', 'KS', 'EMR', 'STS', 'IAM', 'SQS', 'EVT', 'TRAP'] as const;
const prefixAlt = prefixes.join('|');
/** One id, then any `..NNN`, `/NNN`, `..PREFIX-NNN` or `/PREFIX-NNN` continuations. */
const idPattern = new RegExp(`\\b(${prefixAlt})-(\\d+)((?:(?:\\.\\.|/)(?:(?:${prefixAlt})-)?\\d+\\b)*)`, 'g');
const continuationPattern = new RegExp(`(\\.\\.|/)(?:(${prefixAlt})-)?(\\d+)`, 'g');

/** Citation forms that pointed outside the repository. */
const legacyForms: Array<[RegExp, string]> = [
  [/\btrap\s*§/i, 'legacy trap-section citation'],
  [/\btrap\s+\d+/i, 'legacy trap-number citation'],
  [/§\s*\d/, 'legacy section-sign citation'],
  [/\(D\d{1,2}\b/, 'legacy disagreement-number citation'],
  [/shared\/(?:spec|seeds)\b/, 'path outside the repository'],
];

type Citation =
  | { line: number; kind: 'id'; text: string; ids: string[] }
  | { line: number; kind: 'legacy'; text: string; form: string };

/** Every rule-id citation and every legacy citation form in one file's text. Lines are 1-based. */
function citations(text: string): Citation[] {
  const out: Citation[] = [];
  text.split('\n').forEach((content, i) => {
    const line = i + 1;
    for (const m of content.matchAll(idPattern)) {
      const prefix = m[1]!;
      const first = m[2]!;
      const ids = [`${prefix}-${first}`];
      let previous = Number(first);
      for (const c of m[3]!.matchAll(continuationPattern)) {
        const [, sep, otherPrefix, digits] = c;
        const p = otherPrefix ?? prefix;
        const n = Number(digits);
        const width = otherPrefix ? digits!.length : Math.max(digits!.length, first.length);
        if (sep === '..' && p === prefix && n > previous) {
          for (let k = previous + 1; k <= n; k++) ids.push(`${p}-${String(k).padStart(width, '0')}`);
        } else {
          ids.push(`${p}-${String(n).padStart(width, '0')}`);
        }
        previous = n;
      }
      out.push({ line, kind: 'id', text: m[0], ids });
    }
    for (const [pattern, form] of legacyForms) {
      const m = pattern.exec(content);
      if (m) out.push({ line, kind: 'legacy', text: m[0], form });
    }
  });
  return out;
}

/** The ids docs/aws-behaviour.md defines: one `### ID` heading each, in order (duplicates kept). */
function definedIds(doc: string): string[] {
  return [...doc.matchAll(new RegExp(`^###\\s+((?:${prefixAlt})-\\d+)\\s*$`, 'gm'))].map((m) => m[1]!);
}

describe('citations', () => {
  const ids = (text: string) => citations(text).flatMap((c) => (c.kind === 'id' ? c.ids : []));
  const legacy = (text: string) => citations(text).flatMap((c) => (c.kind === 'legacy' ? [c.form] : []));

  it('finds single ids with their line numbers', () => {
    expect(citations('a\n// never force-stops (TRAP-04), see MSF-015.')).toEqual([
      { line: 2, kind: 'id', text: 'TRAP-04', ids: ['TRAP-04'] },
      { line: 2, kind: 'id', text: 'MSF-015', ids: ['MSF-015'] },
    ]);
  });

  it('expands ranges and lists, with or without the repeated prefix', () => {
    expect(ids('(MSF-007..010)')).toEqual(['MSF-007', 'MSF-008', 'MSF-009', 'MSF-010']);
    expect(ids('MSF-011..MSF-013')).toEqual(['MSF-011', 'MSF-012', 'MSF-013']);
    expect(ids('KS-007/008 and MSF-007/008/010')).toEqual([
      'KS-007',
      'KS-008',
      'MSF-007',
      'MSF-008',
      'MSF-010',
    ]);
    expect(ids('(EMR-007, EMR-006)')).toEqual(['EMR-007', 'EMR-006']);
  });

  it('ignores look-alikes that are not rule ids', () => {
    expect(ids('AES-256, SHA-256, RSA_2048, ks-011, XMSF-015, ISO-8601')).toEqual([]);
    expect(legacy('trap \'rm -rf "$work"\' RETURN; a trap that loses data; § alone')).toEqual([]);
  });

  it('flags every legacy form', () => {
    // Fixtures are assembled from pieces so that no rewrite tool run over the repository edits them.
    const [trap, s, d] = ['trap', '\u00a7', '(D'];
    expect(legacy(`never force-stops (${trap} ${s}9.4)`)).toEqual([
      'legacy trap-section citation',
      'legacy section-sign citation',
    ]);
    expect(legacy(`(MSF-017, ${trap} 5)`)).toEqual(['legacy trap-number citation']);
    expect(legacy(`the disk key (spec ${s}5.2)`)).toEqual(['legacy section-sign citation']);
    expect(legacy(`KMSInvalidStateException ${d}6);`)).toEqual(['legacy disagreement-number citation']);
    expect(legacy(`see /work/${['shared', 'spec'].join('/')}/aws-behaviour.md`)).toEqual([
      'path outside the repository',
    ]);
  });
});

describe('definedIds', () => {
  it('reads the `### ID` headings only', () => {
    const doc = '# T\n\n## KMS\n\n### KMS-001\n\ntext KMS-002\n\n### TRAP-04\n\n### Not an id\n';
    expect(definedIds(doc)).toEqual(['KMS-001', 'TRAP-04']);
  });
});

const root = join(import.meta.dirname, '..', '..');
const docPath = 'docs/aws-behaviour.md';
const selfPath = 'test/unit/rule-ids.test.ts';
const scannedDirs = ['src', 'emulator', 'test', 'scripts', 'bench', 'docs'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sourceFiles(path);
    return /\.(ts|md)$/.test(e.name) && path !== docPath && path !== selfPath ? [path] : [];
  });
}

describe('docs/aws-behaviour.md', () => {
  const doc = readFileSync(join(root, docPath), 'utf8');
  const defined = definedIds(doc);

  it('defines each id once, in the PREFIX-NNN / TRAP-NN shape', () => {
    const seen = new Set<string>();
    const duplicates = defined.filter((id) => seen.has(id) || !seen.add(id));
    expect(duplicates).toEqual([]);
    expect(
      defined.filter((id) => !/^(?:(?:AWS|KMS|MSF|KS|EMR|STS|IAM|SQS|EVT)-\d{3}|TRAP-\d{2})$/.test(id)),
    ).toEqual([]);
    expect(defined.length).toBeGreaterThan(0);
  });

  it('cites only its own ids and refers to nothing outside the repository', () => {
    const known = new Set(defined);
    const problems = citations(doc).flatMap((c) =>
      c.kind === 'legacy'
        ? [`${docPath}:${c.line}: ${c.form}: ${c.text}`]
        : c.ids.filter((id) => !known.has(id)).map((id) => `${docPath}:${c.line}: ${id} is not defined`),
    );
    doc.split('\n').forEach((content, i) => {
      if (/https?:\/\/|\/work\//.test(content))
        problems.push(`${docPath}:${i + 1}: refers outside the repository`);
    });
    expect(problems).toEqual([]);
  });

  it('is cited by the code with defined ids only, and no legacy citation remains', () => {
    const known = new Set(defined);
    const problems: string[] = [];
    for (const file of scannedDirs.flatMap(sourceFiles)) {
      for (const c of citations(readFileSync(join(root, file), 'utf8'))) {
        const where = `${relative(root, join(root, file))}:${c.line}`;
        if (c.kind === 'legacy') problems.push(`${where}: ${c.form}: ${c.text}`);
        else
          for (const id of c.ids)
            if (!known.has(id)) problems.push(`${where}: ${id} is not defined in ${docPath}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
