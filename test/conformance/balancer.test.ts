/**
 * Runs every registered balancer through test/conformance/balancer.case.ts.
 * A name added to ALGORITHMS is covered here without touching this file.
 */
import { ALGORITHMS } from '../../workers/balance/index.ts';
import { describeBalancerConformance } from './balancer.case.ts';

for (const algorithm of ALGORITHMS) describeBalancerConformance(algorithm);
