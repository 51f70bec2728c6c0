// A run's bandwidth (docs/bandwidth.md): its plan's rate with the hub config's rate and windows.

import type { Plan } from '../plan/types.js';
import { bandwidthOf, type Bandwidth } from '../rate/bandwidth.js';
import type { HubConfig } from './hub-config.js';

export function runBandwidth(
  plan: Pick<Plan, 'rate'>,
  hub: Pick<HubConfig, 'rate' | 'windows'> | undefined,
): Bandwidth {
  return bandwidthOf({ plan: plan.rate, hub: hub?.rate, windows: hub?.windows });
}
