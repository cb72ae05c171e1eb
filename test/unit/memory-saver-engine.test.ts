// The memory saver's engine on Node's own V8 (src/runtime/memory-saver.ts, `v8Engine`), in child
// processes (V8's settings are process-wide): what it asks of V8 must change what V8 keeps.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const saverModule = fileURLToPath(new URL('../../src/runtime/memory-saver.ts', import.meta.url));

interface Figures {
  /** V8's heap (committed), MiB, before and after. */
  before: number;
  after: number;
  /** `typeof gc` in the main context afterwards. */
  globalGc: string;
}

/**
 * A heap with most of its objects dropped, then `steps` (run in the child) and V8's committed heap
 * measured again. `churn`: the child keeps allocating (a settled operator's resyncs) meanwhile.
 */
function measure(steps: string, churn: boolean, v8Flags: string[] = []): Figures {
  const script = `
    const { v8Engine } = await import(${JSON.stringify(saverModule)});
    const { getHeapStatistics } = await import('node:v8');
    const heap = () => getHeapStatistics().total_heap_size / 1048576;
    const keep = new Map();
    for (let i = 0; i < 600000; i++) keep.set(i, { a: 'x' + i, b: [i, i + 1], c: { d: i } });
    for (let i = 0; i < 600000; i++) if (i % 5 !== 0) keep.delete(i);
    const before = heap();
    const engine = v8Engine();
    ${steps}
    let n = 0;
    for (let round = 0; round < 20; round++) {
      if (${churn}) for (let k = 0; k < 100000; k++) keep.set(600000 + (n++ % 200000), { a: 'y' + n, b: [n] });
      await new Promise((ok) => setTimeout(ok, 50));
    }
    process.stdout.write(JSON.stringify({ before, after: heap(), globalGc: typeof globalThis.gc }));
  `;
  const out = spawnSync(
    process.execPath,
    ['--max-semi-space-size=4', ...v8Flags, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(out.status, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Figures;
}

describe('v8Engine', () => {
  it("collect() hands back the pages of dropped objects at once, and leaves the main context's globals alone", () => {
    // V8 collects on its own only when allocation asks it to: no marking left running from the
    // allocations before (it finished during the wait in one CI run and took the control's pages)
    // and no idle-time reducer. So the control keeps every page, and only collect() can return them.
    const onlyAllocationCollects = [
      '--no-incremental-marking',
      '--no-concurrent-marking',
      '--no-memory-reducer',
    ];
    const idle = measure('', false, onlyAllocationCollects);
    const collected = measure('engine.collect();', false, onlyAllocationCollects);
    // Nothing allocates, so without a collection V8 keeps every page (the control).
    expect(idle.after).toBeGreaterThan(idle.before * 0.95);
    expect(collected.after).toBeLessThan(collected.before * 0.8);
    expect(collected.globalGc).toBe('undefined');
  }, 60_000);

  it('setSaver(true) keeps the heap smaller while the process goes on allocating; setSaver(false) gives V8 its room back', () => {
    const plain = measure('', true);
    const saver = measure('engine.setSaver(true);', true);
    const back = measure('engine.setSaver(true); engine.setSaver(false);', true);
    expect(saver.after).toBeLessThan(plain.after * 0.85);
    expect(back.after).toBeGreaterThan(saver.after);
  }, 60_000);
});
