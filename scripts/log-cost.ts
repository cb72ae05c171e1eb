// What one reconcile's logging costs the event loop: a child logger with the reconcile's bindings
// and one audit line, through the operator's logger (src/runtime/log.ts: secrets redacted by a walk
// that copies only on the way to a secret), against pino's own `redact` option given the same
// secret fields as wildcard paths (what the operator used before), and against no redaction.
// Output goes to a sink that drops it: only the logger's own work is timed.
//
//   node scripts/log-cost.ts [--n 20000] [--rounds 3]

import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { type Logger, pino } from 'pino';
import { createLogger, secretFields } from '../src/runtime/log.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } },
});
const n = Number(values.n);
const rounds = Number(values.rounds);
const sink = new Writable({
  write(_chunk, _encoding, done) {
    done();
  },
});

// The operator's secret fields, each at the top level and three levels down.
const wildcardPaths = secretFields.flatMap((field) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(field) ? field : `["${field}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
});

const loggers: Record<string, () => Logger> = {
  operator: () => createLogger({ destination: sink as never }),
  'pino redact, wildcard paths': () => pino({ redact: { paths: wildcardPaths, censor: '[redacted]' } }, sink),
  'pino, no redaction': () => pino({}, sink),
};

for (const [name, make] of Object.entries(loggers)) {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const log = make();
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const child = log.child({
        controller: 'flinkapplication',
        object: `team-a/flink-${i}`,
        reconcileID: `r${i}`,
      });
      child.info(
        {
          audit: true,
          action: 'UpdateApplication',
          object: `team-a/flink-${i}`,
          kind: 'FlinkApplication',
          subject: 'arn:aws:kinesisanalytics:eu-west-1:111122223333:application/orders',
          requestId: 'c0ffee',
          from: 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa',
          to: 'arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb',
          operationId: 'op-1',
        },
        'UpdateApplication on orders',
      );
    }
    times.push(((performance.now() - started) * 1000) / n);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(28)} ${times[Math.floor(times.length / 2)]!.toFixed(1)} us per child + audit line (median of ${rounds} x ${n})`,
  );
}
