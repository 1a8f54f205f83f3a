// Tests of scripts/npm-licences.mjs: the SPDX evaluator, the lock file check, the credits check,
// and (with the page's real node_modules) that the bundle spy finds a package the credits leave out.
//   node --test scripts/tests/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledPackages, checkCredits, checkLock, declaredLicence, packageOf, satisfies } from '../npm-licences.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const web = join(root, 'workloads/frontend/web');

test('SPDX: one side of OR, both sides of AND, WITH as written', () => {
  const allowed = ['MIT', 'Apache-2.0', 'Apache-2.0 WITH LLVM-exception'];
  assert.equal(satisfies('MIT', allowed), true);
  assert.equal(satisfies('GPL-3.0-only', allowed), false);
  assert.equal(satisfies('MIT OR GPL-3.0-only', allowed), true);
  assert.equal(satisfies('GPL-3.0-only OR MIT', allowed), true);
  assert.equal(satisfies('MIT AND GPL-3.0-only', allowed), false);
  assert.equal(satisfies('(MIT OR Apache-2.0) AND ISC', allowed), false);
  assert.equal(satisfies('(MIT OR ISC) AND Apache-2.0', allowed), true);
  assert.equal(satisfies('mit or ISC', ['ISC']), true, 'operators are case-insensitive');
  assert.equal(satisfies('Apache-2.0 WITH LLVM-exception', allowed), true);
  assert.equal(satisfies('MIT WITH Some-exception', allowed), false);
});

test('SPDX: what is not an expression is an error, not a pass', () => {
  const notExpressions = ['', 'SEE LICENSE IN LICENSE.txt', '(MIT', 'MIT)', 'MIT OR', 'MIT AND AND ISC', 'UNLICENSED, MIT'];
  for (const bad of notExpressions) {
    assert.throws(() => satisfies(bad, ['MIT', 'ISC']), undefined, bad);
  }
  assert.throws(() => satisfies(undefined, ['MIT']));
});

test('package names from node_modules paths', () => {
  assert.equal(packageOf('node_modules/leaflet/dist/leaflet-src.js'), 'leaflet');
  assert.equal(packageOf('/w/web/node_modules/a/node_modules/@esbuild/linux-x64/bin/esbuild'), '@esbuild/linux-x64');
  assert.equal(packageOf('node_modules/@scope'), null);
  assert.equal(packageOf('src/app.js'), null);
  assert.equal(declaredLicence({ license: 'ISC' }), 'ISC');
  assert.equal(declaredLicence({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }), '(MIT OR Apache-2.0)');
  assert.equal(declaredLicence({}), undefined);
});

const INTEGRITY = 'sha512-AAAA';
/** A package-lock.json (v3) with these entries, each given an integrity hash unless it says otherwise. */
const lockOf = (packages) => {
  const entries = Object.entries(packages).map(([path, entry]) => [path, { integrity: INTEGRITY, ...entry }]);
  return { lockfileVersion: 3, packages: { '': { name: 'x' }, ...Object.fromEntries(entries) } };
};
const exceptions = { 'copyleft-tool': { licence: 'MPL-2.0', devOnly: true, reason: 'test' } };

test('lock file: allowed licences pass, others fail with the package named', () => {
  const ok = checkLock(lockOf({ 'node_modules/a': { version: '1.0.0', license: 'MIT' } }), () => null, ['MIT'], {});
  assert.deepEqual(ok.problems, []);
  const bad = checkLock(lockOf({
    'node_modules/a': { version: '1.0.0', license: 'GPL-3.0-only' },
    'node_modules/b': { version: '2.0.0', dev: true },
    'node_modules/c': { version: '3.0.0', license: 'SEE LICENSE IN x' },
  }), () => null, ['MIT'], {});
  assert.equal(bad.problems.length, 3, bad.problems.join('\n'));
  assert.match(bad.problems[0], /^a@1\.0\.0: licence "GPL-3\.0-only" is not in the allow-list/);
  assert.match(bad.problems[1], /^b@2\.0\.0: declares no licence/);
  assert.match(bad.problems[2], /^c@3\.0\.0: .*not an SPDX expression/);
});

test('lock file: an exception holds for its licence, and only as a dev dependency when so marked', () => {
  const dev = checkLock(lockOf({ 'node_modules/copyleft-tool': { version: '1.0.0', license: 'MPL-2.0', dev: true } }),
    () => null, ['MIT'], exceptions);
  assert.deepEqual(dev.problems, []);
  const prod = checkLock(lockOf({ 'node_modules/copyleft-tool': { version: '1.0.0', license: 'MPL-2.0' } }),
    () => null, ['MIT'], exceptions);
  assert.match(prod.problems[0], /dev dependency only/);
  const relicensed = checkLock(
    lockOf({ 'node_modules/copyleft-tool': { version: '2.0.0', license: 'AGPL-3.0-only', dev: true } }),
    () => null, ['MIT'], exceptions);
  assert.match(relicensed.problems[0], /AGPL-3\.0-only" is not in the allow-list/);
  const gone = checkLock(lockOf({}), () => null, ['MIT'], exceptions);
  assert.match(gone.problems[0], /no longer in the lock file/);
});

test('lock file: every package comes from the npm registry, with an integrity hash', () => {
  const a = (entry) => lockOf({ 'node_modules/a': { version: '1.0.0', license: 'MIT', ...entry } });
  const ok = checkLock(a({ resolved: 'https://registry.npmjs.org/a/-/a-1.0.0.tgz' }), () => null, ['MIT'], {});
  assert.deepEqual(ok.problems, []);
  const git = checkLock(a({ resolved: 'git+ssh://git@example.com/a.git#abc', integrity: undefined }),
    () => null, ['MIT'], {});
  assert.deepEqual(git.problems, ['a@1.0.0: no sha512 integrity hash (not from the registry?)',
    'a@1.0.0: resolved from git+ssh://git@example.com/a.git#abc, not https://registry.npmjs.org/']);
  const tarball = checkLock(a({ resolved: 'https://example.com/a.tgz' }), () => null, ['MIT'], {});
  assert.match(tarball.problems[0], /resolved from https:\/\/example\.com\/a\.tgz/);
});

test('lock file: the installed package.json must agree with the lock', () => {
  const lock = lockOf({ 'node_modules/a': { version: '1.0.0', license: 'MIT' } });
  const relicensed = checkLock(lock, () => ({ version: '1.0.0', license: 'GPL-3.0-only' }), ['MIT'], {});
  assert.match(relicensed.problems[0], /lock file says "MIT" but its package\.json says "GPL-3\.0-only"/);
  const stale = checkLock(lock, () => ({ version: '0.9.0', license: 'MIT' }), ['MIT'], {});
  assert.match(stale.problems[0], /run npm ci/);
});

test('credits: every bundled package named, with its licence text', () => {
  const report = {
    metafiles: [{ outputs: { 'out/app.js': { inputs: {
      'node_modules/leaflet/dist/leaflet-src.js': { bytesInOutput: 10 },
      'node_modules/tree-shaken/index.js': { bytesInOutput: 0 },
      'src/app.js': { bytesInOutput: 5 },
    } } } }],
    reads: ['/w/node_modules/world-atlas/countries-110m.json', '/w/node_modules/leaflet/LICENSE', '/w/src/index.html'],
  };
  assert.deepEqual(bundledPackages(report), ['leaflet', 'world-atlas']);
  const texts = { leaflet: 'BSD 2-Clause\nCopyright Leaflet', 'world-atlas': 'ISC\n  Copyright Mike' };
  const full = 'Leaflet (BSD-2-Clause)\nBSD 2-Clause Copyright   Leaflet\n----\nworld-atlas (ISC)\nISC Copyright Mike';
  assert.deepEqual(checkCredits(['leaflet', 'world-atlas'], full, (n) => texts[n]), []);
  const missing = checkCredits(['leaflet', 'world-atlas'], 'Leaflet (BSD-2-Clause)\nBSD 2-Clause Copyright Leaflet',
    (n) => texts[n]);
  assert.deepEqual(missing, ["world-atlas is in the page but THIRD-PARTY.txt does not name it",
    "world-atlas's licence text is not in THIRD-PARTY.txt"]);
  assert.deepEqual(checkCredits(['x'], 'x', () => null), ['x is in the page but has no licence file to credit']);
  assert.equal(checkCredits(['atlas'], 'world-atlas (ISC) atlas-data', () => 'ISC').length, 1,
    'a name inside another name does not count');
});

test('the bundle spy sees an npm package that the credits leave out (real build, real esbuild)', (t) => {
  if (!existsSync(join(web, 'node_modules/esbuild'))) {
    t.skip('workloads/frontend/web/node_modules is not installed (scripts/check-supply-chain.sh runs npm ci first)');
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'qs-npm-licences-test-'));
  try {
    // A page like the real one: it imports Leaflet and reads world-atlas's data, credits only world-atlas.
    symlinkSync(join(web, 'node_modules'), join(tmp, 'node_modules'));
    copyFileSync(join(web, 'package-lock.json'), join(tmp, 'package-lock.json'));
    writeFileSync(join(tmp, 'app.js'), "import * as L from 'leaflet';\nconsole.log(L.version);\n");
    writeFileSync(join(tmp, 'build.mjs'), [
      "import * as esbuild from 'esbuild';",
      "import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';",
      'const out = process.argv[2]; mkdirSync(out, { recursive: true });',
      "readFileSync('node_modules/world-atlas/countries-110m.json');",
      "await esbuild.build({ entryPoints: ['app.js'], bundle: true, write: false, outdir: out, logLevel: 'error' });",
      "const credit = 'world-atlas (ISC)\\n' + readFileSync('node_modules/world-atlas/LICENSE', 'utf8');",
      "writeFileSync(out + '/THIRD-PARTY.txt', credit);",
    ].join('\n'));
    const run = spawnSync(process.execPath, [join(root, 'scripts/npm-licences.mjs'), tmp], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /in the page .*: leaflet, world-atlas/);
    assert.match(run.stderr, /FAIL: leaflet is in the page but THIRD-PARTY\.txt does not name it/);
    assert.match(run.stderr, /FAIL: leaflet's licence text is not in THIRD-PARTY\.txt/);
    assert.doesNotMatch(run.stderr, /world-atlas/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
