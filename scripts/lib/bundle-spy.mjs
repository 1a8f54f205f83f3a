// Preloaded into `node build.mjs` by scripts/npm-licences.mjs (`node --import`), so the licence check
// sees what the real build puts in the page without changing build.mjs:
//   - esbuild's metafile of every esbuild.build call: a module hook (bundle-spy-hooks.mjs) hands
//     build.mjs esbuild-spy.mjs instead of esbuild, which asks the real esbuild for a metafile;
//   - the files the build's own code (anything outside node_modules) reads with fs.
// On exit it writes { metafiles, reads } as JSON to $BUNDLE_SPY_REPORT. Nothing else changes: the
// build writes the same files.
import fs from 'node:fs';
import { register, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';

const report = process.env.BUNDLE_SPY_REPORT;
if (!report) throw new Error('bundle-spy: set BUNDLE_SPY_REPORT to the file the report goes to');

const spy = (globalThis[Symbol.for('quakestream.bundleSpy')] ??= { metafiles: [], reads: [] });
register('./bundle-spy-hooks.mjs', import.meta.url);

/** Wraps fs.NAME (first argument: a path) so that reads by the build's own code are recorded. */
function record(target, name) {
  const original = target[name];
  target[name] = function (file, ...rest) {
    const caller = new Error().stack.split('\n')[2] ?? '';
    if (!caller.includes('/node_modules/') && !caller.includes('node:internal')) {
      spy.reads.push(file instanceof URL ? fileURLToPath(file) : String(file));
    }
    return original.call(this, file, ...rest);
  };
}
for (const name of ['readFileSync', 'readFile', 'copyFileSync', 'cpSync', 'createReadStream']) record(fs, name);
for (const name of ['readFile', 'copyFile', 'cp']) record(fs.promises, name);
syncBuiltinESMExports(); // `import { readFileSync } from 'node:fs'` now gets the wrapped one

const { writeFileSync } = fs;
process.on('exit', () => writeFileSync(report, JSON.stringify(spy)));
