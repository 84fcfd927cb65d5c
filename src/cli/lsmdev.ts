#!/usr/bin/env node
/** `lsmdev`: mdevctl ships `lsmdev` as `mdevctl list` under another name; so does umdevctl. */
import { run } from './main.js';

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, program: 'lsmdev' });
