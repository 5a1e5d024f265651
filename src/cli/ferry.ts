#!/usr/bin/env node
/**
 * @module src/cli/ferry
 *
 * The `ferry` bin. Thread: main. It checks the Node.js version before
 * anything else loads (static imports would load undici first and crash on
 * an old Node with a stack trace), then loads the command (ferry-run.ts).
 */
import { exitUnlessNodeSupported } from './node-check.ts';

exitUnlessNodeSupported('ferry');
import('./ferry-run.ts');
