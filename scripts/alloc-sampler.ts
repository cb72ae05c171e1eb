// What a running operator allocates, and which of it outlives V8's young generation: V8's sampling
// heap profiler, started and stopped from outside by two files, loaded into the operator with
// `--import`. The bench passes it on through CMK_BENCH_NODE_OPTIONS:
//
//   CMK_ALLOC_DIR=/tmp/alloc CMK_BENCH_NODE_OPTIONS='--max-semi-space-size=4 --max-old-space-size=512 \
//     --import=$PWD/scripts/alloc-sampler.ts' node scripts/bench.ts --n 10000 --scenarios initial,steady
//   touch /tmp/alloc/start   # e.g. when the bench logs "steady: floor"
//   touch /tmp/alloc/stop    # writes /tmp/alloc/profile.<pid>.json
//   node scripts/alloc-analysis.ts /tmp/alloc/profile.<pid>.json
//
// By default the profile keeps what a scavenge did not collect: objects that reached the old
// generation (and died there, or are still live). That garbage is what grows the resident set between
// the settled operator's rare full collections. CMK_ALLOC_MINOR=1 keeps what scavenges collected too
// (everything allocated). One sample per 16 KiB allocated. A diagnostic tool: not part of the image.

import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const dir = process.env['CMK_ALLOC_DIR'] ?? '/tmp/alloc';
const log = (m: string) =>
  appendFileSync(`${dir}/sampler.log`, `${new Date().toISOString()} ${process.pid} ${m}\n`);
const session = new Session();
session.connect();
let state: 'idle' | 'busy' | 'sampling' | 'done' = 'idle';

const timer = setInterval(() => {
  void (async () => {
    try {
      if (state === 'idle' && existsSync(`${dir}/start`)) {
        state = 'busy';
        rmSync(`${dir}/start`);
        await session.post('HeapProfiler.enable');
        await session.post('HeapProfiler.startSampling', {
          samplingInterval: 16_384,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: process.env['CMK_ALLOC_MINOR'] === '1',
        });
        state = 'sampling';
        log('started');
      } else if (state === 'sampling' && existsSync(`${dir}/stop`)) {
        state = 'busy';
        rmSync(`${dir}/stop`);
        const { profile } = await session.post('HeapProfiler.stopSampling');
        writeFileSync(`${dir}/profile.${process.pid}.json`, JSON.stringify(profile));
        state = 'done';
        log('written');
        clearInterval(timer);
      }
    } catch (e) {
      log(`failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  })();
}, 500);
timer.unref();
