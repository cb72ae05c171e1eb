// Placeholder: the cassandra emulator is being written.
import type { ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

export function createKeyspacesService(_world: World): ServiceRuntime {
  return {
    name: 'cassandra',
    protocol: 'awsJson1_0',
    targetPrefix: 'KeyspacesService',
    operations: {},
    routes: [],
  };
}
