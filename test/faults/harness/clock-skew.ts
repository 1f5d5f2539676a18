/**
 * Worker processes whose wall clock is minutes off (test/helpers/libfaketime.ts), while the
 * machine's monotonic clock, on which the journal is stamped, stays true. The stores are not
 * skewed: their clock is the one that decides.
 */
import { skewedClockEnv } from '../../helpers/libfaketime.js';
import type { FleetOptions } from './fleet.js';
import type { Rng } from './rng.js';

/**
 * A skew for each of `workers` members, in minutes: 2 to 9 minutes off, with signs that alternate
 * from a random first (so that a fleet of two or more has both), seeded.
 */
export function skewsMinutes(rng: Rng, workers: number): number[] {
  const firstSign = rng.chance(0.5) ? 1 : -1;
  return Array.from({ length: workers }, (_, i) => (i % 2 === 0 ? firstSign : -firstSign) * rng.int(2, 9));
}

/**
 * Fleet options that run member i with its wall clock `minutes[i]` off (a replacement keeps its
 * member's), through `env`, which execs node in its own place and so keeps the fleet's pid.
 */
export function skewedFleet(minutes: readonly number[]): FleetOptions {
  return {
    commandPrefix: (index) => [
      'env',
      ...Object.entries(skewedClockEnv(minutes[index % minutes.length]!)).map(([name, value]) => `${name}=${value}`),
    ],
  };
}
