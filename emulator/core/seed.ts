// Reading a service's section of a seed document (the per-service formats are in each service's
// index.ts). Seeds are written by people, so mistakes are plain Errors naming the section.

import type { JsonObject } from './service.ts';
import type { EmulatorConfig } from './world.ts';

/**
 * The list under `member` of a service's seed section (`{ <member>: [...] }`), or undefined when the
 * section has none.
 */
export function seedList(
  section: unknown,
  service: string,
  member: string,
  article = 'a',
): JsonObject[] | undefined {
  if (section === null || typeof section !== 'object' || Array.isArray(section))
    throw new Error(`seed: ${service} must be a mapping with ${article} ${member} list`);
  const list = (section as JsonObject)[member];
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw new Error(`seed: ${service}.${member} must be a list`);
  return list as JsonObject[];
}

/** Where a seeded resource lives: its own `region` and `accountId`, or the configured defaults. */
export function seedScope(raw: JsonObject, config: EmulatorConfig): { region: string; accountId: string } {
  return {
    region: typeof raw['region'] === 'string' ? raw['region'] : config.defaultRegion,
    accountId: typeof raw['accountId'] === 'string' ? raw['accountId'] : config.accountId,
  };
}
