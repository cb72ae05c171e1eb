// A typed client for the emulator's admin API, for tests and the playground that run the emulator in
// another process. Every method is one HTTP call to /_emulator/...

import type { CallRecord } from './core/calllog.ts';
import type { FaultRule } from './core/faults.ts';
import type { EventQueueSettings, EventQueueTarget, EventTrailCounts } from './core/trail.ts';

export type { EventQueueSettings } from './core/trail.ts';

export interface EventQueueState {
  settings: (EventQueueSettings & EventQueueTarget) | null;
  counts: EventTrailCounts;
}

export interface EmulatorAdmin {
  health(): Promise<{ ok: boolean; now: number; mode: string; services: string[] }>;
  reset(config?: Record<string, unknown>): Promise<void>;
  /** A parsed document, or the text of a YAML/JSON seed file. */
  seed(doc: unknown): Promise<void>;
  patchConfig(config: Record<string, unknown>): Promise<Record<string, unknown>>;
  clock(): Promise<{ now: number; mode: 'wall' | 'frozen' }>;
  freeze(at?: number): Promise<void>;
  unfreeze(): Promise<void>;
  advance(by: { ms?: number; seconds?: number; days?: number }): Promise<{ now: number }>;
  /** Moves the clock to `at` (ms since the epoch or an ISO string); due events run. */
  setClock(at: number | string): Promise<{ now: number; mode: 'wall' | 'frozen' }>;
  setFaults(rules: FaultRule[]): Promise<void>;
  addFault(rule: FaultRule): Promise<void>;
  clearFaults(): Promise<void>;
  faultCounts(): Promise<Record<string, number>>;
  calls(filter?: {
    service?: string;
    eventName?: string;
    errorCode?: string;
    since?: number;
  }): Promise<CallRecord[]>;
  clearCalls(): Promise<void>;
  state(): Promise<Record<string, unknown>>;
  /**
   * Publishes a CloudTrail-shaped EventBridge event into the named SQS queue (create it first) after
   * every successful mutating call on the allow-list, with optional delay, drop, duplicate and
   * reorder faults. Replaces earlier settings.
   */
  setEventQueue(settings: EventQueueSettings): Promise<EventQueueState>;
  eventQueue(): Promise<EventQueueState>;
  /** Stops publishing events. */
  clearEventQueue(): Promise<void>;
}

export function emulatorAdmin(baseUrl: string): EmulatorAdmin {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    // A string body is a document already written out (a YAML seed file's text): sent verbatim.
    const res = await fetch(new URL(`/_emulator/${path}`, baseUrl), {
      method,
      ...(body === undefined
        ? {}
        : typeof body === 'string'
          ? { body, headers: { 'content-type': 'application/yaml' } }
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator admin ${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    health: () => call('GET', 'health'),
    reset: async (config) => {
      await call('POST', 'reset', config ?? {});
    },
    seed: async (doc) => {
      await call('POST', 'seed', doc);
    },
    patchConfig: (config) => call('PATCH', 'config', config),
    clock: () => call('GET', 'clock'),
    freeze: async (at) => {
      await call('POST', 'clock/freeze', at === undefined ? {} : { at });
    },
    unfreeze: async () => {
      await call('POST', 'clock/unfreeze', {});
    },
    advance: (by) => call('POST', 'clock/advance', by),
    setClock: (at) => call('POST', 'clock/set', { at }),
    setFaults: async (rules) => {
      await call('PUT', 'faults', { rules });
    },
    addFault: async (rule) => {
      await call('POST', 'faults', rule);
    },
    clearFaults: async () => {
      await call('DELETE', 'faults');
    },
    faultCounts: async () => (await call<{ counts: Record<string, number> }>('GET', 'faults')).counts,
    calls: async (filter = {}) => {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
      return (await call<{ calls: CallRecord[] }>('GET', `calls?${q}`)).calls;
    },
    clearCalls: async () => {
      await call('DELETE', 'calls');
    },
    state: () => call('GET', 'state'),
    setEventQueue: (settings) => call('PUT', 'events', settings),
    eventQueue: () => call('GET', 'events'),
    clearEventQueue: async () => {
      await call('DELETE', 'events');
    },
  };
}
