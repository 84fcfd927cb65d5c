// Loaded only when bin/umdevctl or bin/lsmdev cannot load the CLI's bundle: says whether the build is missing (run
// ./setup) or out of this user's reach (a checkout in a home other users cannot enter), and exits 1. Any other
// failure is rethrown as it was.
/* global require, module, process, __dirname */
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: bin/umdevctl loads it without Node's ES module loader */
const fs = require('node:fs');
const path = require('node:path');
/* eslint-enable @typescript-eslint/no-require-imports */

module.exports = function buildError(program, bundle, e) {
  let code;
  try {
    fs.accessSync(bundle, fs.constants.R_OK);
  } catch (a) {
    code = a.code;
  }
  if (code === undefined || (code !== 'ENOENT' && code !== 'EACCES' && code !== 'ENOTDIR')) throw e;
  if (code === 'EACCES') {
    let blocked = bundle;
    for (let d = path.dirname(bundle); d !== path.dirname(d); d = path.dirname(d)) {
      try {
        fs.accessSync(d, fs.constants.X_OK);
        break;
      } catch {
        blocked = d;
      }
    }
    process.stderr.write(`${program}: cannot read ${bundle}: permission denied on ${blocked} for uid ${process.getuid()}; run it as a user who can read the checkout, or install umdev where everyone can\n`);
  } else {
    process.stderr.write(`${program}: ${bundle} is missing: run ./setup (or npm run build) in ${path.resolve(__dirname, '..')}\n`);
  }
  process.exit(1);
};
