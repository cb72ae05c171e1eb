import { describe, expect, it } from 'vitest';
import { analyseHeapSnapshot, parseHeapSnapshot, renderAnalysis } from '../../scripts/heap-analysis.ts';

const meta = {
  node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
  node_types: [
    ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic'],
    'string',
    'number',
    'number',
    'number',
    'number',
    'number',
  ],
  edge_fields: ['type', 'name_or_index', 'to_node'],
  edge_types: [
    ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'],
    'string_or_number',
    'node',
  ],
};

type Node = { type: string; name: string; size: number; edges: Array<[string, string, number]> };

/** A .heapsnapshot file of `nodes` (index 0 is the root), as V8 writes it. */
function snapshotFile(nodes: Node[]): Buffer {
  const strings: string[] = [];
  const str = (s: string) => {
    const i = strings.indexOf(s);
    return i >= 0 ? i : strings.push(s) - 1;
  };
  const nodeTypes = meta.node_types[0] as string[];
  const edgeTypes = meta.edge_types[0] as string[];
  const flatNodes = nodes.flatMap((n, i) => [
    nodeTypes.indexOf(n.type),
    str(n.name),
    i * 2 + 1,
    n.size,
    n.edges.length,
    0,
    0,
  ]);
  const flatEdges = nodes.flatMap((n) =>
    n.edges.flatMap(([type, name, to]) => [edgeTypes.indexOf(type), str(name), to * meta.node_fields.length]),
  );
  const text =
    `{"snapshot":{"meta":${JSON.stringify(meta)},"node_count":${nodes.length},"edge_count":${flatEdges.length / 3},"trace_function_count":0},\n` +
    `"nodes":[${flatNodes.join(',')}],\n"edges":[${flatEdges.join(',')}],\n` +
    `"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[],\n"strings":[${strings.map((s) => JSON.stringify(s)).join(',\n')}]}`;
  return Buffer.from(text);
}

// root -> cache (Cache, 100 B) -> two copies of the string "dup" (20 B each) and an Entry (50 B);
// root -> other (Other, 10 B), which shares the second "dup" and holds the Entry only weakly.
const graph: Node[] = [
  {
    type: 'synthetic',
    name: '',
    size: 0,
    edges: [
      ['property', 'cache', 1],
      ['property', 'other', 2],
    ],
  },
  {
    type: 'object',
    name: 'Cache',
    size: 100,
    edges: [
      ['property', 'x', 3],
      ['property', 'y', 4],
      ['property', 'e', 5],
    ],
  },
  {
    type: 'object',
    name: 'Other',
    size: 10,
    edges: [
      ['property', 'z', 4],
      ['weak', 'w', 5],
    ],
  },
  { type: 'string', name: 'dup', size: 20, edges: [] },
  { type: 'string', name: 'dup', size: 20, edges: [] },
  { type: 'object', name: 'Entry', size: 50, edges: [] },
];

describe('heap snapshot analysis', () => {
  const analysis = analyseHeapSnapshot(parseHeapSnapshot(snapshotFile(graph)));
  const cls = (name: string) => analysis.classes.find((c) => c.name === name);

  it.each([
    // class, instances, self bytes, retained bytes (what freeing them would give back)
    ['Cache', 1, 100, 170], // its own string and the Entry (the weak edge does not hold it); not the shared string
    ['Other', 1, 10, 10],
    ['Entry', 1, 50, 50],
    ['(string)', 2, 40, 40],
  ])('%s: %i instance(s), %i bytes, retaining %i', (name, count, self, retained) => {
    expect(cls(name)).toEqual({ name, count, selfBytes: self, retainedBytes: retained });
  });

  it('totals every node', () => {
    expect(analysis.totalBytes).toBe(200);
    expect(analysis.reachableBytes).toBe(200);
  });

  it('gives a structure what hangs from it along shortest paths, shared objects included', () => {
    const cache = analysis.structures.find((s) => s.name.startsWith('Cache'));
    // Too small to be a structure (16 KiB): the threshold is for real heaps.
    expect(cache).toBeUndefined();
    const big = analyseHeapSnapshot(
      parseHeapSnapshot(snapshotFile(graph.map((n) => ({ ...n, size: n.size * 1024 })))),
    );
    expect(big.structures.find((s) => s.name.startsWith('Cache at'))).toMatchObject({
      count: 1,
      heldBytes: 190 * 1024,
      retainedBytes: 170 * 1024,
    });
  });

  it('counts duplicated strings and what one copy would save', () => {
    expect(analysis.duplicateStrings.wastedBytes).toBe(20);
    expect(analysis.duplicateStrings.top[0]).toMatchObject({ text: 'dup', count: 2 });
  });

  it('names where the biggest object hangs', () => {
    expect(analysis.biggest[0]).toMatchObject({ name: 'Cache', retainedBytes: 170, path: '(root).cache' });
    expect(renderAnalysis(analysis, 'test')).toContain('| 0.00 | Cache | (root).cache |');
  });

  it('reads escaped strings and refuses a file whose counts disagree', () => {
    const escaped = analyseHeapSnapshot(
      parseHeapSnapshot(
        snapshotFile(graph.map((n, i) => (i === 3 ? { ...n, name: 'a "quoted"\\ line\n' } : n))),
      ),
    );
    expect(escaped.duplicateStrings.wastedBytes).toBe(0);
    const file = snapshotFile(graph).toString().replace('"node_count":6', '"node_count":7');
    expect(() => parseHeapSnapshot(Buffer.from(file))).toThrow(/nodes values, header says/);
    expect(() => parseHeapSnapshot(Buffer.from('{"snapshot":{}}'))).toThrow(/no "nodes" section/);
  });
});
