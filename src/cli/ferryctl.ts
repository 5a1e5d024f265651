#!/usr/bin/env node
/**
 * @module src/cli/ferryctl
 *
 * The `ferryctl` bin. Thread: its own process. It checks the Node.js version
 * before anything else loads, then loads the command (ferryctl-run.ts).
 */
import { exitUnlessNodeSupported } from './node-check.ts';

exitUnlessNodeSupported('ferryctl');
import('./ferryctl-run.ts');
