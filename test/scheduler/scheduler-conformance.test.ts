/** Runs the scheduler conformance suite on the three built-in slot kinds, against the real servers. */
import test from 'ava';
import { schedulerConformanceSuite } from '../../src/testing/scheduler-suite.js';
import { closeSlotKinds, memoryKind as memory, postgresKind as postgres, redisKind as redis } from '../helpers/slot-kinds.js';

test.after.always(closeSlotKinds);

for (const kind of [memory, redis, postgres]) schedulerConformanceSuite(test, kind);
