// Placeholder: the kms emulator is being written.
import type { ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

export function createKmsService(_world: World): ServiceRuntime {
  return { name: 'kms', protocol: 'awsJson1_1', targetPrefix: 'TrentService', operations: {}, routes: [] };
}
