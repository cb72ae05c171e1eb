// Placeholder: the emr-serverless emulator is being written.
import type { ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

export function createEmrServerlessService(_world: World): ServiceRuntime {
  return { name: 'emr-serverless', protocol: 'restJson1', operations: {}, routes: [] };
}
