// The admin API under `/_emulator/`: seeding, reset, the clock, fault rules, the call log and a state
// dump. JSON in and out (a seed may also be YAML). It is the only way tests steer the emulator; the
// operator itself never calls it.
//
//   GET    /_emulator/health                 {ok, now, clock, services}
//   POST   /_emulator/reset                  fresh state; body may override config
//   POST   /_emulator/seed                   apply a seed document (YAML or JSON)
//   GET    /_emulator/config                 the config in force
//   PATCH  /_emulator/config                 merge into config (transitions, caps)
//   GET    /_emulator/clock                  {now, mode}
//   POST   /_emulator/clock/freeze           body {at?}
//   POST   /_emulator/clock/unfreeze
//   POST   /_emulator/clock/advance          body {ms} | {seconds} | {days}
//   POST   /_emulator/clock/set              body {at}  (ms since epoch or ISO string)
//   GET    /_emulator/faults                 {rules, counts}
//   PUT    /_emulator/faults                 body {rules: FaultRule[]}
//   POST   /_emulator/faults                 body FaultRule (appends)
//   DELETE /_emulator/faults
//   GET    /_emulator/calls?service=&eventName=&errorCode=&since=
//   DELETE /_emulator/calls
//   GET    /_emulator/state                  every service's snapshot
//   GET    /_emulator/events                 {settings, counts} of the event trail
//   PUT    /_emulator/events                 body {queueName, accountId?, region?, delayMs?,
//                                              duplicateRate?, dropRate?, reorder?}
//   DELETE /_emulator/events                 stop publishing events

import { parse as parseYaml } from 'yaml';
import type { FaultRule } from './core/faults.ts';
import type { EncodedResponse } from './core/protocol.ts';
import type { EventQueueSettings } from './core/trail.ts';
import type { EmulatorHost } from './server.ts';

function json(status: number, value: unknown): EncodedResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

function parseBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  const v: unknown = body.trimStart().startsWith('{') ? JSON.parse(body) : parseYaml(body);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('body must be an object');
  return v as Record<string, unknown>;
}

function toMs(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return Date.parse(v);
  throw new Error(`expected ms since epoch or an ISO date, got ${JSON.stringify(v)}`);
}

export async function handleAdmin(
  host: EmulatorHost,
  method: string,
  url: URL,
  body: string,
): Promise<EncodedResponse> {
  const path = url.pathname.replace(/\/+$/, '');
  try {
    const world = host.world();
    const clockView = () => ({
      now: world.clock.now(),
      iso: new Date(world.clock.now()).toISOString(),
      mode: world.clock.mode(),
    });
    switch (`${method} ${path}`) {
      case 'GET /_emulator/health':
        return json(200, { ok: true, ...clockView(), services: host.services().map((s) => s.name) });
      case 'POST /_emulator/reset':
        host.reset(parseBody(body));
        return json(200, { ok: true });
      case 'POST /_emulator/seed':
        host.seed(parseBody(body));
        return json(200, { ok: true });
      case 'GET /_emulator/config':
        return json(200, world.config);
      case 'PATCH /_emulator/config':
        Object.assign(world.config, parseBody(body));
        return json(200, world.config);
      case 'GET /_emulator/clock':
        return json(200, clockView());
      case 'POST /_emulator/clock/freeze': {
        const b = parseBody(body);
        world.clock.freeze(b['at'] === undefined ? undefined : toMs(b['at']));
        world.settle();
        return json(200, clockView());
      }
      case 'POST /_emulator/clock/unfreeze':
        world.clock.unfreeze();
        return json(200, clockView());
      case 'POST /_emulator/clock/advance': {
        const b = parseBody(body);
        const ms =
          Number(b['ms'] ?? 0) + Number(b['seconds'] ?? 0) * 1000 + Number(b['days'] ?? 0) * 86_400_000;
        if (!Number.isFinite(ms) || ms < 0)
          return json(400, { error: 'advance takes a non-negative ms, seconds or days' });
        world.clock.advance(ms);
        world.settle();
        return json(200, clockView());
      }
      case 'POST /_emulator/clock/set': {
        world.clock.set(toMs(parseBody(body)['at']));
        world.settle();
        return json(200, clockView());
      }
      case 'GET /_emulator/faults':
        return json(200, { rules: world.faults.rules(), counts: world.faults.counts() });
      case 'PUT /_emulator/faults':
        world.faults.set((parseBody(body)['rules'] as FaultRule[] | undefined) ?? []);
        return json(200, { rules: world.faults.rules() });
      case 'POST /_emulator/faults':
        world.faults.add(parseBody(body) as FaultRule);
        return json(200, { rules: world.faults.rules() });
      case 'DELETE /_emulator/faults':
        world.faults.clear();
        return json(200, { rules: [] });
      case 'GET /_emulator/calls': {
        const q = url.searchParams;
        const since = q.get('since');
        const calls = world.log.query({
          ...(q.get('service') ? { service: q.get('service')! } : {}),
          ...(q.get('eventName') ? { eventName: q.get('eventName')! } : {}),
          ...(q.get('errorCode') ? { errorCode: q.get('errorCode')! } : {}),
          ...(since ? { since: Number(since) } : {}),
        });
        return json(200, { calls });
      }
      case 'DELETE /_emulator/calls':
        world.log.clear();
        return json(200, { ok: true });
      case 'GET /_emulator/state':
        world.settle();
        return json(
          200,
          Object.fromEntries(host.services().map((s) => [s.name, s.snapshot ? s.snapshot() : null])),
        );
      case 'GET /_emulator/events':
        return json(200, { settings: world.events.settings() ?? null, counts: world.events.counts() });
      case 'PUT /_emulator/events':
        world.events.configure(parseBody(body) as unknown as EventQueueSettings);
        return json(200, { settings: world.events.settings() ?? null, counts: world.events.counts() });
      case 'DELETE /_emulator/events':
        world.events.configure(undefined);
        return json(200, { settings: null, counts: world.events.counts() });
      default:
        return json(404, { error: `no admin route ${method} ${path}` });
    }
  } catch (e) {
    return json(400, { error: e instanceof Error ? e.message : String(e) });
  }
}
