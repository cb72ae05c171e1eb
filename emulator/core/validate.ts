// Request validation helpers that throw AWS-shaped errors naming the member, the way AWS's own
// request validation does ("1 validation error detected: Value null at 'keyId' failed to satisfy
// constraint: Member must not be null"). Each service passes the error code it uses.

import { AwsError } from './protocol.ts';
import type { JsonObject } from './service.ts';

export interface Validator {
  str(input: JsonObject, member: string, opts?: { min?: number; max?: number; pattern?: RegExp }): string;
  optStr(
    input: JsonObject,
    member: string,
    opts?: { min?: number; max?: number; pattern?: RegExp },
  ): string | undefined;
  int(input: JsonObject, member: string, opts?: { min?: number; max?: number }): number;
  optInt(input: JsonObject, member: string, opts?: { min?: number; max?: number }): number | undefined;
  optBool(input: JsonObject, member: string): boolean | undefined;
  enumOf<T extends string>(input: JsonObject, member: string, values: readonly T[]): T;
  optEnum<T extends string>(input: JsonObject, member: string, values: readonly T[]): T | undefined;
  optObject(input: JsonObject, member: string): JsonObject | undefined;
  object(input: JsonObject, member: string): JsonObject;
  optStringMap(input: JsonObject, member: string): Record<string, string> | undefined;
  optStringList(input: JsonObject, member: string): string[] | undefined;
  fail(message: string): never;
}

/** `code` is the error each service uses for bad input (ValidationException, InvalidArgumentException...). */
export function validator(code = 'ValidationException', status = 400): Validator {
  const fail = (message: string): never => {
    throw new AwsError(code, message, status);
  };
  const constraint = (member: string, value: unknown, text: string): never =>
    fail(
      `1 validation error detected: Value ${JSON.stringify(value) ?? 'null'} at '${member}' failed to satisfy constraint: ${text}`,
    );
  const optStr: Validator['optStr'] = (input, member, opts = {}) => {
    const v = input[member];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return constraint(member, v, 'Member must be a string');
    if (opts.min !== undefined && v.length < opts.min)
      constraint(member, v, `Member must have length greater than or equal to ${opts.min}`);
    if (opts.max !== undefined && v.length > opts.max)
      constraint(member, v, `Member must have length less than or equal to ${opts.max}`);
    if (opts.pattern && !opts.pattern.test(v))
      constraint(member, v, `Member must satisfy regular expression pattern: ${opts.pattern.source}`);
    return v;
  };
  const optInt: Validator['optInt'] = (input, member, opts = {}) => {
    const v = input[member];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v))
      return constraint(member, v, 'Member must be an integer');
    if (opts.min !== undefined && v < opts.min)
      constraint(member, v, `Member must have value greater than or equal to ${opts.min}`);
    if (opts.max !== undefined && v > opts.max)
      constraint(member, v, `Member must have value less than or equal to ${opts.max}`);
    return v;
  };
  const optEnum = <T extends string>(
    input: JsonObject,
    member: string,
    values: readonly T[],
  ): T | undefined => {
    const v = input[member];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !values.includes(v as T))
      constraint(member, v, `Member must satisfy enum value set: [${values.join(', ')}]`);
    return v as T;
  };
  const optObject = (input: JsonObject, member: string): JsonObject | undefined => {
    const v = input[member];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return constraint(member, v, 'Member must be a structure');
    return v as JsonObject;
  };
  const required = <T>(member: string, v: T | undefined): T =>
    v === undefined ? constraint(member, null, 'Member must not be null') : v;
  return {
    fail,
    optStr,
    str: (input, member, opts) => required(member, optStr(input, member, opts)),
    optInt,
    int: (input, member, opts) => required(member, optInt(input, member, opts)),
    optBool(input, member) {
      const v = input[member];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'boolean') return constraint(member, v, 'Member must be a boolean');
      return v;
    },
    optEnum,
    enumOf: (input, member, values) => required(member, optEnum(input, member, values)),
    optObject,
    object: (input, member) => required(member, optObject(input, member)),
    optStringMap(input, member) {
      const o = optObject(input, member);
      if (o === undefined) return undefined;
      for (const [k, v] of Object.entries(o)) {
        if (typeof v !== 'string') constraint(`${member}.${k}`, v, 'Member must be a string');
      }
      return o as Record<string, string>;
    },
    optStringList(input, member) {
      const v = input[member];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        return constraint(member, v, 'Member must be a list of strings');
      return v as string[];
    },
  };
}
