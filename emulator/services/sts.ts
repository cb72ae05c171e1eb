// Placeholder: the sts emulator is being written.
import type { ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

export function createStsService(_world: World): ServiceRuntime {
  return { name: 'sts', protocol: 'awsQuery', operations: {}, routes: [] };
}
