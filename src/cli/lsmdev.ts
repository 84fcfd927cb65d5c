#!/usr/bin/env node
/** `lsmdev`: mdevctl ships `lsmdev` as `mdevctl list` under another name; so does umdevctl. */
import { cli } from './main.js';

await cli('lsmdev');
