#!/usr/bin/env node
/** `umdevd`: the daemon with the real parts (`run.ts` does the work). */
import './process-guard.js';
import { describeError } from '../log.js';
import { realParts } from './parts.js';
import { runUmdevd } from './run.js';

// Exit explicitly: a part that left a handle open (a stuck client socket) must not keep a stopped daemon alive.
runUmdevd(process.argv.slice(2), realParts()).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`umdevd: ${describeError(e)}\n`);
    process.exit(1);
  },
);
