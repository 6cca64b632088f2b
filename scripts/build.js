#!/usr/bin/env node
// The build `npm start`, `npm test` and `npm run bench` run first. It compiles with tsc (incremental,
// so a change recompiles only what it affects) and copies the SQL and plain-JavaScript module files
// next to the compiled code; when nothing under the inputs changed since the last build, it does
// nothing at all, so a warm start pays no compile time. `npm run build -- --force` always builds.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const stamp = path.join(dist, '.build-stamp');
// What the build reads: tsconfig's includes, the folders whose files are copied, and the build itself.
const INPUTS = ['src', 'modules', 'migrations', 'bench', 'test/fixtures', 'ormconfig.ts', 'tsconfig.json', 'package.json', 'scripts/build.js'];
const COPIED = ['modules', 'bench/modules', 'test/fixtures/modules'];

/** The newest modification time under `p` (a file or a folder), or 0 when it does not exist. */
function newest(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs; // a deleted or renamed file changes its folder's time
  for (const entry of fs.readdirSync(p)) max = Math.max(max, newest(path.join(p, entry)));
  return max;
}

function upToDate() {
  let built;
  try {
    built = fs.statSync(stamp).mtimeMs;
  } catch {
    return false;
  }
  return INPUTS.every((p) => newest(path.join(root, p)) < built);
}

if (process.argv.includes('--force') || !upToDate()) {
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  for (const d of COPIED) {
    fs.cpSync(path.join(root, d), path.join(dist, d), { recursive: true, filter: (s) => !s.endsWith('.ts') });
  }
  fs.writeFileSync(stamp, new Date().toISOString() + '\n');
}
