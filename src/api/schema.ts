// Schema building blocks for CRDs. TypeBox gives one source for the TypeScript type, the OpenAPI
// schema in the CRD and runtime checks, but some of its shapes are not structural in Kubernetes'
// sense (unions of literals emit anyOf/const, records emit patternProperties). These helpers emit
// the structural forms instead; test/unit/api-schema.test.ts lints every generated schema.

import Type, { type TSchema } from 'typebox';

export interface CelRule {
  rule: string;
  message: string;
  /** Field path the error is reported on, relative to the node carrying the rule. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** Set for transition rules that must also run when only the old object had the field. */
  optionalOldSelf?: boolean;
}

/** A string restricted to `values`, emitted as `{type: string, enum: [...]}`. */
export function stringEnum<const T extends readonly string[]>(
  values: T,
  options: { description: string; default?: T[number] },
) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A map of string to string, emitted as `additionalProperties` (structural), not patternProperties. */
export function stringMap(options: { description: string; maxProperties?: number; valueMaxLength?: number }) {
  const { valueMaxLength, ...rest } = options;
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string', ...(valueMaxLength ? { maxLength: valueMaxLength } : {}) },
    ...rest,
  });
}

/** `x-kubernetes-validations` for a node. */
export function rules(...list: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': list };
}

/** A rule that makes a field immutable once set (rule placed on the field itself). */
export function immutable(field: string, fix: string): CelRule {
  return { rule: 'self == oldSelf', message: `${field} is immutable: ${fix}` };
}

/** Passes a schema through unchanged but keeps its static type; for readability at call sites. */
export function schema<T extends TSchema>(s: T): T {
  return s;
}
