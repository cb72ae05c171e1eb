// AWS answers are not trusted to match their model: the SDK passes wrong-typed members through as
// they arrived. Adapters read members through these guards, so a wrong type reads as absent and
// never leaks into an observation or throws an unclassified TypeError; an answer that cannot be used
// at all becomes a classified MalformedResponse.

import { AwsCallError } from './errors.ts';

export const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A string with something in it. */
export const nonEmptyText = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

export const positiveInt = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;

/** The object members of a list; anything but an array reads as empty. */
export const items = <T>(v: T[] | undefined): T[] =>
  Array.isArray(v) ? v.filter((x) => x !== null && typeof x === 'object') : [];

/** A string-to-string map as sent; members of another type are dropped. */
export const stringMap = (v: unknown): Record<string, string> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {};

export const iso = (d: Date | undefined): string | undefined =>
  d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : undefined;

export const epochMs = (d: Date | undefined): number =>
  d instanceof Date && !Number.isNaN(d.getTime()) ? d.getTime() : 0;

export const malformed = (operation: string, message: string): AwsCallError =>
  new AwsCallError(operation, { cause: 'Unknown', code: 'MalformedResponse', message });
