// The SQS data model and store: queues by account, region and name; messages in arrival order with
// the emulator-clock time they become visible; receipt handles; and the long-poll waiters, which are
// the only things in the emulator that wait in real time (a ReceiveMessage with WaitTimeSeconds).

import { randomUUID } from 'node:crypto';
import type { World } from '../../core/world.ts';
import { md5Hex, queueArn } from './rules.ts';

export interface SqsMessage {
  id: string;
  body: string;
  md5: string;
  senderId: string;
  sentAt: number;
  /** Emulator-clock ms at which the message can be received (DelaySeconds, visibility timeout). */
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** The newest receipt handle; only it deletes the message (SQS-005). */
  handle?: string;
  /** Every handle issued for it, dropped from the index when the message goes. */
  issued: string[];
  messageAttributes?: Record<string, unknown>;
}

export interface Queue {
  name: string;
  accountId: string;
  region: string;
  arn: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
  createdAt: number;
  modifiedAt: number;
  messages: SqsMessage[];
  lastPurgeAt?: number;
  deleted: boolean;
}

export interface SqsStore {
  find(accountId: string, region: string, name: string): Queue | undefined;
  all(): Queue[];
  create(queue: Omit<Queue, 'arn' | 'messages' | 'deleted' | 'modifiedAt'>): Queue;
  delete(queue: Queue, now: number): void;
  /** When a queue of that name was last deleted (ms), for the 60-second reuse rule. */
  deletedAt(accountId: string, region: string, name: string): number | undefined;
  /**
   * Adds a message. `position` in [0, 1) inserts it at that fraction of the queue instead of the
   * end (the event trail's reorder fault); standard queues promise no order anyway (SQS-007).
   */
  enqueue(
    queue: Queue,
    message: { body: string; senderId: string; now: number; delayMs?: number; position?: number },
    attributes?: Record<string, unknown>,
  ): SqsMessage;
  /** Takes up to `max` visible messages, hides them for `visibilityMs` and hands out new handles. */
  receive(queue: Queue, max: number, visibilityMs: number, now: number): SqsMessage[];
  /** The message a live handle was issued for, and whether the handle is still the newest. */
  byHandle(handle: string): { queue: Queue; message: SqsMessage; latest: boolean } | undefined;
  remove(queue: Queue, message: SqsMessage): void;
  purge(queue: Queue, now: number): void;
  /** Resolves after `ms` real time, or earlier when a message arrives in the queue or the store closes. */
  waitFor(queue: Queue, ms: number): Promise<void>;
  closed(): boolean;
  /** Wakes every waiter; later waits return at once. */
  close(): void;
}

const scope = (accountId: string, region: string, name: string) => `${accountId}/${region}/${name}`;

export function createSqsStore(_world: World): SqsStore {
  const queues = new Map<string, Queue>();
  const deletions = new Map<string, number>();
  const handles = new Map<string, { queue: Queue; message: SqsMessage }>();
  const waiters = new Map<Queue, Set<() => void>>();
  let isClosed = false;

  const wake = (queue: Queue) => {
    for (const w of waiters.get(queue) ?? []) w();
  };
  const forget = (message: SqsMessage) => {
    for (const h of message.issued) handles.delete(h);
  };

  return {
    find: (accountId, region, name) => {
      const q = queues.get(scope(accountId, region, name));
      return q && !q.deleted ? q : undefined;
    },
    all: () => [...queues.values()],
    create(input) {
      const queue: Queue = {
        ...input,
        arn: queueArn(input.region, input.accountId, input.name),
        messages: [],
        deleted: false,
        modifiedAt: input.createdAt,
      };
      queues.set(scope(input.accountId, input.region, input.name), queue);
      return queue;
    },
    delete(queue, now) {
      queue.deleted = true;
      for (const m of queue.messages) forget(m);
      queue.messages = [];
      queues.delete(scope(queue.accountId, queue.region, queue.name));
      deletions.set(scope(queue.accountId, queue.region, queue.name), now);
      wake(queue);
    },
    deletedAt: (accountId, region, name) => deletions.get(scope(accountId, region, name)),
    enqueue(queue, m, attributes) {
      const message: SqsMessage = {
        id: randomUUID(),
        body: m.body,
        md5: md5Hex(m.body),
        senderId: m.senderId,
        sentAt: m.now,
        visibleAt: m.now + (m.delayMs ?? 0),
        receiveCount: 0,
        issued: [],
        ...(attributes ? { messageAttributes: attributes } : {}),
      };
      if (m.position === undefined) queue.messages.push(message);
      else queue.messages.splice(Math.floor(m.position * (queue.messages.length + 1)), 0, message);
      wake(queue);
      return message;
    },
    receive(queue, max, visibilityMs, now) {
      const out: SqsMessage[] = [];
      for (const m of queue.messages) {
        if (out.length >= max) break;
        if (m.visibleAt > now) continue;
        m.receiveCount += 1;
        m.firstReceiveAt ??= now;
        m.visibleAt = now + visibilityMs;
        m.handle = Buffer.from(`${queue.arn}|${m.id}|${m.receiveCount}|${randomUUID()}`).toString('base64');
        m.issued.push(m.handle);
        handles.set(m.handle, { queue, message: m });
        out.push(m);
      }
      return out;
    },
    byHandle(handle) {
      const entry = handles.get(handle);
      return entry ? { ...entry, latest: entry.message.handle === handle } : undefined;
    },
    remove(queue, message) {
      const i = queue.messages.indexOf(message);
      if (i >= 0) queue.messages.splice(i, 1);
      forget(message);
    },
    purge(queue, now) {
      for (const m of queue.messages) forget(m);
      queue.messages = [];
      queue.lastPurgeAt = now;
    },
    waitFor(queue, ms) {
      if (isClosed || ms <= 0) return Promise.resolve();
      return new Promise((resolve) => {
        const set = waiters.get(queue) ?? new Set<() => void>();
        waiters.set(queue, set);
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) waiters.delete(queue);
          resolve();
        };
        // Unref'd: a pending long poll never keeps the process alive.
        const timer = setTimeout(done, ms);
        timer.unref();
        set.add(done);
      });
    },
    closed: () => isClosed,
    close() {
      isClosed = true;
      for (const q of [...waiters.keys()]) wake(q);
    },
  };
}
