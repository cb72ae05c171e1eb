// Placeholder: the kinesisanalytics emulator is being written.
import type { ServiceRuntime } from '../core/service.ts';
import type { World } from '../core/world.ts';

export function createMsfService(_world: World): ServiceRuntime {
  return {
    name: 'kinesisanalytics',
    protocol: 'awsJson1_1',
    targetPrefix: 'KinesisAnalytics_20180523',
    operations: {},
    routes: [],
  };
}
