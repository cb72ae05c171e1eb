// Where a process's memory goes, from a V8 heap snapshot (.heapsnapshot, as written by
// `--heapsnapshot-signal` or `v8.writeHeapSnapshot()`): self and retained size by constructor, the
// biggest single retainers, and for the biggest groups the retainer paths their bytes hang from.
//
//   node --max-old-space-size=8192 scripts/heap-analysis.ts FILE.heapsnapshot [--top 25] [--json OUT]
//
// The file is read whole into a Buffer and its number arrays are decoded into typed arrays without
// JSON.parse (a 10,000-workload snapshot is larger than V8's longest string). Retained sizes come
// from the dominator tree (Cooper, Harvey and Kennedy's iterative algorithm), over the edges the
// Chrome DevTools count as holding: weak edges never, shortcut edges only from the root.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface HeapSnapshot {
  nodeFieldCount: number;
  /** Flat node table: [type, name, id, self_size, edge_count, ...] per node (see `fields`). */
  nodes: Uint32Array;
  edges: Uint32Array;
  strings: string[];
  nodeTypes: string[];
  edgeTypes: string[];
  fields: { type: number; name: number; selfSize: number; edgeCount: number };
  edgeFieldCount: number;
  edgeFields: { type: number; nameOrIndex: number; toNode: number };
}

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  edge_fields: string[];
  edge_types: [string[], ...unknown[]];
}

const quote = 0x22;
const backslash = 0x5c;

/** Decodes the snapshot file's text. Throws with the section name when the layout is not V8's. */
export function parseHeapSnapshot(buf: Buffer): HeapSnapshot {
  const at = (key: string, from = 0) => {
    const i = buf.indexOf(`"${key}":`, from);
    if (i < 0) throw new Error(`not a V8 heap snapshot: no "${key}" section`);
    return i + key.length + 3;
  };
  const nodesAt = at('nodes');
  // The header is small: everything before "nodes", closed as an object.
  const header = JSON.parse(
    `${buf.toString('utf8', 0, nodesAt - '"nodes":'.length).replace(/,\s*$/, '')}}`,
  ) as {
    snapshot: { meta: Meta; node_count: number; edge_count: number };
  };
  const meta = header.snapshot.meta;
  const nodeFieldCount = meta.node_fields.length;
  const edgeFieldCount = meta.edge_fields.length;
  const nodes = new Uint32Array(header.snapshot.node_count * nodeFieldCount);
  const edges = new Uint32Array(header.snapshot.edge_count * edgeFieldCount);
  let pos = numbers(buf, nodesAt, nodes, 'nodes');
  pos = numbers(buf, at('edges', pos), edges, 'edges');
  const strings = stringArray(buf, at('strings', pos));
  const field = (names: string[], name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`not a V8 heap snapshot: no ${name} field`);
    return i;
  };
  return {
    nodeFieldCount,
    nodes,
    edges,
    strings,
    nodeTypes: meta.node_types[0],
    edgeTypes: meta.edge_types[0],
    fields: {
      type: field(meta.node_fields, 'type'),
      name: field(meta.node_fields, 'name'),
      selfSize: field(meta.node_fields, 'self_size'),
      edgeCount: field(meta.node_fields, 'edge_count'),
    },
    edgeFieldCount,
    edgeFields: {
      type: field(meta.edge_fields, 'type'),
      nameOrIndex: field(meta.edge_fields, 'name_or_index'),
      toNode: field(meta.edge_fields, 'to_node'),
    },
  };
}

/** Reads `[n,n,...]` starting at `from` into `out`; returns the position after `]`. */
function numbers(buf: Buffer, from: number, out: Uint32Array, section: string): number {
  let i = buf.indexOf(0x5b, from) + 1; // [
  let k = 0;
  let value = 0;
  let inNumber = false;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      inNumber = true;
    } else {
      if (inNumber) {
        if (k >= out.length) throw new Error(`heap snapshot: more ${section} than the header counts`);
        out[k++] = value;
        value = 0;
        inNumber = false;
      }
      if (c === 0x5d) break; // ]
    }
  }
  if (k !== out.length) throw new Error(`heap snapshot: ${k} ${section} values, header says ${out.length}`);
  return i + 1;
}

function stringArray(buf: Buffer, from: number): string[] {
  const out: string[] = [];
  let i = buf.indexOf(0x5b, from) + 1;
  for (;;) {
    while (i < buf.length && buf[i] !== quote && buf[i] !== 0x5d) i++;
    if (i >= buf.length || buf[i] === 0x5d) return out;
    let end = i + 1;
    let escaped = false;
    for (; buf[end] !== quote; end++) {
      if (buf[end] !== backslash) continue;
      escaped = true;
      end++;
    }
    out.push(
      escaped ? (JSON.parse(buf.toString('utf8', i, end + 1)) as string) : buf.toString('utf8', i + 1, end),
    );
    i = end + 1;
  }
}

export interface Analysis {
  totalBytes: number;
  nodeCount: number;
  reachableBytes: number;
  /** By class: instances, self bytes, retained bytes of the instances no other instance of it holds. */
  classes: Array<{ name: string; count: number; selfBytes: number; retainedBytes: number }>;
  /**
   * Structures (caches, queues, tables): objects holding at least 16 KiB along shortest paths,
   * grouped by class and the last steps of their path (one informer cache per namespace is one
   * group). `heldBytes` gives each object to its shortest path, so what two structures share is
   * counted once, in the nearer one; `retainedBytes` is what would be freed with the group alone.
   */
  structures: Array<{ name: string; count: number; heldBytes: number; retainedBytes: number }>;
  /** The single objects retaining most, with their shortest retainer path from the root. */
  biggest: Array<{ name: string; retainedBytes: number; selfBytes: number; path: string }>;
  /** Strings held more than once with the same text: what sharing one copy would save. */
  duplicateStrings: { wastedBytes: number; top: Array<{ text: string; count: number; wastedBytes: number }> };
  /** For the largest classes by self size: where their instances hang (the last steps of the path). */
  owners: Array<{
    name: string;
    count: number;
    selfBytes: number;
    paths: Array<{ path: string; count: number; selfBytes: number }>;
  }>;
}

/** A class name as DevTools groups them: constructors by name, everything else by V8 type. */
function classOf(s: HeapSnapshot, node: number): string {
  const base = node * s.nodeFieldCount;
  const type = s.nodeTypes[s.nodes[base + s.fields.type]!] ?? '?';
  const name = s.strings[s.nodes[base + s.fields.name]!] ?? '?';
  if (node === 0) return '(root)';
  if (type === 'object' || type === 'native' || type === 'synthetic') return name;
  if (type === 'closure') return '(closure)';
  if ((type === 'hidden' || type === 'array') && name.startsWith('(')) return `(${type} ${name})`;
  return `(${type})`;
}

/** The holding edges of the snapshot's graph, as DevTools counts them. */
function graphOf(s: HeapSnapshot) {
  const n = s.nodes.length / s.nodeFieldCount;
  const ef = s.edgeFieldCount;
  const firstEdge = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++)
    firstEdge[v + 1] = firstEdge[v]! + s.nodes[v * s.nodeFieldCount + s.fields.edgeCount]! * ef;
  const weak = s.edgeTypes.indexOf('weak');
  const shortcut = s.edgeTypes.indexOf('shortcut');
  return {
    n,
    /** Calls `f(edge, target)` for each holding edge of `v`; stops when it returns true. */
    forEachEdge(v: number, f: (e: number, w: number) => boolean | undefined) {
      for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += ef) {
        const t = s.edges[e + s.edgeFields.type]!;
        if (t === weak || (t === shortcut && v !== 0)) continue;
        if (f(e, s.edges[e + s.edgeFields.toNode]! / s.nodeFieldCount)) return;
      }
    },
    selfSize: (v: number) => s.nodes[v * s.nodeFieldCount + s.fields.selfSize]!,
  };
}
type Graph = ReturnType<typeof graphOf>;

/** Immediate dominators (-1: unreachable; the root is its own), by Cooper, Harvey and Kennedy. */
function dominators(g: Graph): { idom: Int32Array; postOrder: Uint32Array; reachable: number } {
  const { n } = g;
  const order = new Int32Array(n).fill(-1);
  const postOrder = new Uint32Array(n);
  const stack = new Uint32Array(n);
  const visited = new Uint8Array(n);
  // Depth first, iteratively: a node is numbered once none of its children is left unvisited.
  let count = 0;
  let sp = 0;
  stack[sp++] = 0;
  visited[0] = 1;
  while (sp > 0) {
    const v = stack[sp - 1]!;
    let pushed = false;
    g.forEachEdge(v, (_e, w) => {
      if (visited[w]) return false;
      visited[w] = 1;
      stack[sp++] = w;
      pushed = true;
      return true;
    });
    if (!pushed) {
      sp--;
      order[v] = count;
      postOrder[count++] = v;
    }
  }
  const predStart = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++)
    if (visited[v])
      g.forEachEdge(v, (_e, w) => {
        predStart[w + 1]!++;
        return false;
      });
  for (let v = 0; v < n; v++) predStart[v + 1]! += predStart[v]!;
  const preds = new Uint32Array(predStart[n]!);
  const fill = predStart.slice(0, n);
  for (let v = 0; v < n; v++)
    if (visited[v])
      g.forEachEdge(v, (_e, w) => {
        preds[fill[w]!++] = v;
        return false;
      });
  // By post-order number: the root is count - 1 and every dominator has a higher number.
  const root = count - 1;
  const dom = new Int32Array(count).fill(-1);
  dom[root] = root;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (a < b) a = dom[a]!;
      while (b < a) b = dom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let o = root - 1; o >= 0; o--) {
      const v = postOrder[o]!;
      let d = -1;
      for (let p = predStart[v]!; p < predStart[v + 1]!; p++) {
        const po = order[preds[p]!]!;
        if (po < 0 || dom[po] === -1) continue;
        d = d === -1 ? po : intersect(po, d);
      }
      if (d !== -1 && dom[o] !== d) {
        dom[o] = d;
        changed = true;
      }
    }
  }
  const idom = new Int32Array(n).fill(-1);
  for (let o = 0; o < count; o++) idom[postOrder[o]!] = postOrder[dom[o]!]!;
  return { idom, postOrder: postOrder.subarray(0, count), reachable: count };
}

/** A tree over the nodes: each node's parent (-1 off the tree) and an order with parents first. */
interface Tree {
  parent: Int32Array;
  topDown: Uint32Array;
}

/** Bytes under each node of the tree (its own and its descendants'). */
function subtreeBytes(g: Graph, t: Tree): Float64Array {
  const bytes = new Float64Array(g.n);
  for (const v of t.topDown) bytes[v] = g.selfSize(v);
  for (let i = t.topDown.length - 1; i > 0; i--) {
    const v = t.topDown[i]!;
    bytes[t.parent[v]!]! += bytes[v]!;
  }
  return bytes;
}

/** Per group, the bytes under its members, each counted once (members under another member skipped). */
function groupBytes(t: Tree, bytes: Float64Array, groupOf: Int32Array, groups: number): Float64Array {
  const n = t.parent.length;
  const childStart = new Uint32Array(n + 1);
  for (const v of t.topDown) if (v !== t.topDown[0]) childStart[t.parent[v]! + 1]!++;
  for (let v = 0; v < n; v++) childStart[v + 1]! += childStart[v]!;
  const children = new Uint32Array(childStart[n]!);
  const fill = childStart.slice(0, n);
  for (const v of t.topDown) if (v !== t.topDown[0]) children[fill[t.parent[v]!]!++] = v;
  // Depth first with exit marks (-v - 1), counting the groups on the current path.
  const sums = new Float64Array(groups);
  const onPath = new Uint32Array(groups);
  const walk = new Int32Array(2 * t.topDown.length + 1);
  let sp = 0;
  walk[sp++] = t.topDown[0]!;
  while (sp > 0) {
    const x = walk[--sp]!;
    const v = x < 0 ? -x - 1 : x;
    const g = groupOf[v]!;
    if (x < 0) {
      if (g >= 0) onPath[g]!--;
      continue;
    }
    if (g >= 0) {
      if (onPath[g] === 0) sums[g]! += bytes[v]!;
      onPath[g]!++;
    }
    walk[sp++] = -v - 1;
    for (let i = childStart[v]!; i < childStart[v + 1]!; i++) walk[sp++] = children[i]!;
  }
  return sums;
}

export function analyseHeapSnapshot(
  s: HeapSnapshot,
  options: { top?: number; pathSteps?: number } = {},
): Analysis {
  const top = options.top ?? 25;
  const pathSteps = options.pathSteps ?? 8;
  const g = graphOf(s);
  const { n } = g;

  const { idom, postOrder, reachable } = dominators(g);
  const domTree: Tree = { parent: idom, topDown: postOrder.slice().reverse() };
  const retained = subtreeBytes(g, domTree);

  // Shortest retainer paths (breadth first): for naming where things hang, and for "held" bytes.
  const parent = new Int32Array(n).fill(-1);
  const parentEdge = new Uint32Array(n);
  const queue = new Uint32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  parent[0] = 0;
  while (head < tail) {
    const v = queue[head++]!;
    g.forEachEdge(v, (e, w) => {
      if (parent[w] !== -1) return false;
      parent[w] = v;
      parentEdge[w] = e;
      queue[tail++] = w;
      return false;
    });
  }
  const pathTree: Tree = { parent, topDown: queue.subarray(0, tail) };
  const held = subtreeBytes(g, pathTree);
  const edgeName = (e: number) => {
    const type = s.edgeTypes[s.edges[e + s.edgeFields.type]!];
    if (type === 'element' || type === 'hidden') return '[]';
    const name = s.strings[s.edges[e + s.edgeFields.nameOrIndex]!] ?? '?';
    return /^\d+$/.test(name) ? '[]' : name;
  };
  const pathOf = (v: number, steps = Number.POSITIVE_INFINITY) => {
    const parts: string[] = [];
    for (let w = v; w !== 0 && parts.length < steps; w = parent[w]!)
      parts.push(`${classOf(s, parent[w]!)}.${edgeName(parentEdge[w]!)}`);
    return parts.reverse().join(' > ');
  };

  let totalBytes = 0;
  for (let v = 0; v < n; v++) totalBytes += g.selfSize(v);

  // Classes.
  const classes: Analysis['classes'] = [];
  const classIds = new Map<string, number>();
  const classOfNode = new Int32Array(n).fill(-1);
  for (const v of postOrder) {
    const name = classOf(s, v);
    let id = classIds.get(name);
    if (id === undefined) {
      id = classes.length;
      classIds.set(name, id);
      classes.push({ name, count: 0, selfBytes: 0, retainedBytes: 0 });
    }
    classOfNode[v] = id;
    classes[id]!.count++;
    classes[id]!.selfBytes += g.selfSize(v);
  }
  const classRetained = groupBytes(domTree, retained, classOfNode, classes.length);
  for (const [i, c] of classes.entries()) c.retainedBytes = classRetained[i]!;

  // Structures: objects holding 16 KiB or more, grouped by class and path.
  const structureIds = new Map<string, number>();
  const structureOf = new Int32Array(n).fill(-1);
  const structureCount: number[] = [];
  // A node through which one child holds most of its bytes only passes them on: that child is named.
  const biggestChild = new Float64Array(n);
  for (const v of pathTree.topDown)
    if (v !== 0) biggestChild[parent[v]!] = Math.max(biggestChild[parent[v]!]!, held[v]!);
  for (const v of pathTree.topDown) {
    if (v === 0 || held[v]! < 16 * 1024 || biggestChild[v]! >= 0.8 * held[v]!) continue;
    const name = `${classOf(s, v)} at ${pathOf(v, pathSteps)}`;
    let id = structureIds.get(name);
    if (id === undefined) {
      id = structureIds.size;
      structureIds.set(name, id);
      structureCount.push(0);
    }
    structureOf[v] = id;
    structureCount[id]!++;
  }
  const structureHeld = groupBytes(pathTree, held, structureOf, structureIds.size);
  const structureRetained = groupBytes(domTree, retained, structureOf, structureIds.size);
  const structures = [...structureIds.entries()]
    .map(([name, id]) => ({
      name,
      count: structureCount[id]!,
      heldBytes: structureHeld[id]!,
      retainedBytes: structureRetained[id]!,
    }))
    .sort((a, b) => b.heldBytes - a.heldBytes)
    .slice(0, top);

  // The biggest single objects, skipping those whose bytes are mostly a bigger one's already listed.
  const byRetained = [...postOrder].filter((v) => v !== 0).sort((a, b) => retained[b]! - retained[a]!);
  const biggest: Analysis['biggest'] = [];
  const listed = new Set<number>();
  for (const v of byRetained) {
    if (biggest.length >= top) break;
    let d = idom[v]!;
    while (d !== 0 && !listed.has(d)) d = idom[d]!;
    if (d !== 0 && retained[v]! > 0.9 * retained[d]!) continue;
    listed.add(v);
    biggest.push({
      name: classOf(s, v),
      retainedBytes: retained[v]!,
      selfBytes: g.selfSize(v),
      path: pathOf(v),
    });
  }

  // Where the instances of the largest classes hang.
  const bySelf = [...classes].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, Math.min(top, 12));
  const owners = bySelf.map((c) => {
    const id = classIds.get(c.name);
    const paths = new Map<string, { count: number; selfBytes: number }>();
    for (const v of postOrder) {
      if (classOfNode[v] !== id) continue;
      const path = pathOf(v, 4);
      const p = paths.get(path) ?? { count: 0, selfBytes: 0 };
      paths.set(path, p);
      p.count++;
      p.selfBytes += g.selfSize(v);
    }
    return {
      name: c.name,
      count: c.count,
      selfBytes: c.selfBytes,
      paths: [...paths.entries()]
        .sort((a, b) => b[1].selfBytes - a[1].selfBytes)
        .slice(0, 6)
        .map(([path, p]) => ({ path, ...p })),
    };
  });

  // Duplicated strings (flat strings only; their node name is their text).
  const stringType = s.nodeTypes.indexOf('string');
  const copies = new Map<string, { count: number; bytes: number }>();
  for (const v of postOrder) {
    if (s.nodes[v * s.nodeFieldCount + s.fields.type] !== stringType) continue;
    const text = s.strings[s.nodes[v * s.nodeFieldCount + s.fields.name]!] ?? '';
    const c = copies.get(text) ?? { count: 0, bytes: 0 };
    copies.set(text, c);
    c.count++;
    c.bytes += g.selfSize(v);
  }
  const dups = [...copies.entries()]
    .filter(([, c]) => c.count > 1)
    .map(([text, c]) => ({ text, count: c.count, wastedBytes: c.bytes - c.bytes / c.count }));
  const duplicateStrings = {
    wastedBytes: dups.reduce((sum, d) => sum + d.wastedBytes, 0),
    top: dups.sort((a, b) => b.wastedBytes - a.wastedBytes).slice(0, top),
  };

  void reachable;
  return {
    duplicateStrings,
    totalBytes,
    nodeCount: n,
    reachableBytes: retained[0]!,
    classes: classes.sort((a, b) => b.retainedBytes - a.retainedBytes).slice(0, top),
    structures,
    biggest,
    owners,
  };
}

const mib = (b: number) => (b / 2 ** 20).toFixed(2);

export function renderAnalysis(a: Analysis, title: string): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const lines = [
    `# ${title}`,
    '',
    `${a.nodeCount} nodes, ${mib(a.totalBytes)} MiB in all, ${mib(a.reachableBytes)} MiB reachable from the root.`,
    '',
    '## Structures (objects holding 16 KiB or more along shortest paths, no child holding 80 % of it; grouped by class and path)',
    '',
    '| held MiB | retained MiB | objects | class at path |',
    '| --- | --- | --- | --- |',
    ...a.structures.map(
      (x) => `| ${mib(x.heldBytes)} | ${mib(x.retainedBytes)} | ${x.count} | ${cell(x.name)} |`,
    ),
    '',
    '## By class (retained: instances not held by another instance of the class)',
    '',
    '| class | count | self MiB | retained MiB |',
    '| --- | --- | --- | --- |',
    ...a.classes.map(
      (c) => `| ${cell(c.name)} | ${c.count} | ${mib(c.selfBytes)} | ${mib(c.retainedBytes)} |`,
    ),
    '',
    '## Biggest single retainers',
    '',
    '| retained MiB | class | path from the root |',
    '| --- | --- | --- |',
    ...a.biggest.map((b) => `| ${mib(b.retainedBytes)} | ${cell(b.name)} | ${cell(b.path)} |`),
    '',
    `## Duplicated strings: ${mib(a.duplicateStrings.wastedBytes)} MiB in extra copies`,
    '',
    '| extra MiB | copies | text (first 80 characters) |',
    '| --- | --- | --- |',
    ...a.duplicateStrings.top.map(
      (d) => `| ${mib(d.wastedBytes)} | ${d.count} | ${cell(JSON.stringify(d.text.slice(0, 80)))} |`,
    ),
    '',
    '## Where the largest classes hang (last steps of the shortest path)',
    '',
  ];
  for (const o of a.owners) {
    lines.push(`- ${o.name}: ${o.count} x, ${mib(o.selfBytes)} MiB`);
    for (const p of o.paths) lines.push(`  - ${mib(p.selfBytes)} MiB (${p.count} x) at ... ${p.path}`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string' }, json: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: node scripts/heap-analysis.ts FILE.heapsnapshot [--top 25] [--json OUT]');
    process.exit(2);
  }
  const top = values.top ? Number(values.top) : 25;
  if (!Number.isInteger(top) || top < 1) {
    console.error(`--top must be a positive integer, got ${values.top}`);
    process.exit(2);
  }
  const analysis = analyseHeapSnapshot(parseHeapSnapshot(readFileSync(file)), { top });
  if (values.json) writeFileSync(values.json, JSON.stringify(analysis, null, 2));
  process.stdout.write(renderAnalysis(analysis, file));
}
