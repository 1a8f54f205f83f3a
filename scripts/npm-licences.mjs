// Licence check of the page's npm packages (workloads/frontend/web), run by scripts/check-supply-chain.sh:
//
//   1. Every package in package-lock.json, production and dev (the optional per-platform esbuild
//      binaries too), declares an SPDX licence expression that ALLOWED satisfies, or has an entry
//      in EXCEPTIONS; and the installed package.json agrees with the lock file. Its source is the
//      npm registry: a sha512 integrity hash, and no `resolved` URL elsewhere (git, a file, a tarball).
//   2. Every npm package whose code or data ends up in the page is credited in the THIRD-PARTY.txt
//      that the real build writes, by name and with the text of its licence file. What "ends up in
//      the page" is measured, not listed: build.mjs runs as usual, with scripts/lib/bundle-spy.mjs
//      preloaded, which records esbuild's metafile (the inputs that contributed bytes to an output)
//      and the files build.mjs reads out of node_modules (the basemap's TopoJSON, say).
//
//   node scripts/npm-licences.mjs [WEB_DIR]     (WEB_DIR: default workloads/frontend/web)
//
// Exits 1 listing every problem. node_modules must be installed (npm ci) first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Licences any npm package may use (SPDX identifiers): the permissive ones the page's packages use. */
export const ALLOWED = ['Apache-2.0', 'BSD-2-Clause', 'ISC', 'MIT'];

/**
 * Packages allowed another licence, each with the exact expression and whether it may only be a dev
 * dependency (never bundled into the page, never shipped in an image).
 */
export const EXCEPTIONS = {
  'axe-core': {
    licence: 'MPL-2.0',
    devOnly: true,
    reason: 'the accessibility engine the browser tests inject into the page under test; used unmodified, '
      + 'never bundled or shipped (MPL-2.0 is file-level copyleft: it binds changes to its own files only)',
  },
};

/** Where a package may come from (a lock file without `resolved` URLs means the configured registry). */
export const REGISTRY = 'https://registry.npmjs.org/';

/** Names of the files that hold a package's licence (the first one found is what must be credited). */
const LICENCE_FILE = /^(licen[cs]e|copying)(\.(md|txt))?$/i;

// --- SPDX expressions ------------------------------------------------------------------------------

/** Splits an SPDX licence expression into tokens: "(", ")", AND, OR, WITH and licence identifiers. */
function tokens(expression) {
  return expression.replace(/[()]/g, ' $& ').trim().split(/\s+/).filter(Boolean);
}

/**
 * Whether `expression` (SPDX, e.g. "(MIT OR Apache-2.0) AND BSD-3-Clause") is satisfied by the
 * licences in `allowed`: one side of every OR, both sides of every AND. "X WITH Y" must be allowed
 * as written. Throws on anything that is not an SPDX expression.
 */
export function satisfies(expression, allowed) {
  if (typeof expression !== 'string' || !expression.trim()) throw new Error('no licence expression');
  const ts = tokens(expression);
  const bad = (why) => new Error(`"${expression}" is not an SPDX expression (${why})`);
  let i = 0;
  const peek = () => ts[i]?.toUpperCase();
  const atom = () => {
    const t = ts[i++];
    if (t === undefined) throw bad('it ends early');
    if (t === '(') {
      const v = or();
      if (ts[i++] !== ')') throw bad('a "(" is not closed');
      return v;
    }
    if (!/^[A-Za-z0-9.+-]+$/.test(t) || ['AND', 'OR', 'WITH', ')'].includes(t.toUpperCase())) {
      throw bad(`at "${t}"`);
    }
    if (peek() === 'WITH') {
      i += 1;
      const exception = ts[i++];
      if (!exception || !/^[A-Za-z0-9.+-]+$/.test(exception)) throw bad('WITH needs an exception');
      return allowed.includes(`${t} WITH ${exception}`);
    }
    return allowed.includes(t);
  };
  const and = () => {
    let v = atom();
    while (peek() === 'AND') { i += 1; v = atom() && v; }
    return v;
  };
  const or = () => {
    let v = and();
    while (peek() === 'OR') { i += 1; v = and() || v; }
    return v;
  };
  const v = or();
  if (i !== ts.length) throw bad(`extra "${ts[i]}"`);
  return v;
}

// --- The lock file ---------------------------------------------------------------------------------

/** The package name of a path inside node_modules ("a/node_modules/@s/p/x.js" -> "@s/p"), or null. */
export function packageOf(path) {
  const parts = String(path).split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length) return null;
  const first = parts[at + 1];
  if (first.startsWith('@')) return at + 2 < parts.length ? `${first}/${parts[at + 2]}` : null;
  return first;
}

/** A package.json's licence as one expression (the old `licenses: [{type}]` form joined with OR). */
export function declaredLicence(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license && typeof pkg.license.type === 'string') return pkg.license.type;
  if (Array.isArray(pkg.licenses) && pkg.licenses.length) {
    const types = pkg.licenses.map((l) => (typeof l === 'string' ? l : l?.type));
    if (types.every((t) => typeof t === 'string' && t)) return types.length > 1 ? `(${types.join(' OR ')})` : types[0];
  }
  return undefined;
}

/**
 * Checks every package of a package-lock.json (v2/v3) against ALLOWED and EXCEPTIONS.
 * `installed(path)` returns the installed package.json at that lock path (or null when absent).
 * Returns { problems, packages, used } where `used` is the set of allowed licences and exceptions seen.
 */
export function checkLock(lock, installed = () => null, allowed = ALLOWED, exceptions = EXCEPTIONS) {
  const problems = [];
  const packages = [];
  const used = new Set();
  if (!lock || typeof lock.packages !== 'object') {
    return { problems: ['package-lock.json has no "packages" (lockfileVersion 2 or 3 needed)'], packages, used };
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.link) continue;
    const name = packageOf(path);
    const where = `${name}@${entry.version}`;
    const dev = Boolean(entry.dev);
    packages.push({ name, version: entry.version, dev, licence: entry.license });
    if (!/^sha512-/.test(entry.integrity ?? '')) {
      problems.push(`${where}: no sha512 integrity hash (not from the registry?)`);
    }
    if (entry.resolved !== undefined && !String(entry.resolved).startsWith(REGISTRY)) {
      problems.push(`${where}: resolved from ${entry.resolved}, not ${REGISTRY}`);
    }
    const licence = entry.license;
    const exception = exceptions[name];
    const onDisk = installed(path);
    if (onDisk) {
      const disk = declaredLicence(onDisk);
      if (onDisk.version !== entry.version) {
        problems.push(`${where}: node_modules has version ${onDisk.version} (run npm ci)`);
      } else if (licence !== undefined && disk !== licence) {
        problems.push(`${where}: the lock file says "${licence}" but its package.json says "${disk}"`);
      }
    }
    if (licence === undefined) {
      problems.push(`${where}: declares no licence`);
      continue;
    }
    if (exception && exception.licence === licence) {
      if (exception.devOnly && !dev) {
        problems.push(`${where} (${licence}) is allowed as a dev dependency only, and is now a production one`);
      } else {
        used.add(`exception:${name}`);
      }
      continue;
    }
    let ok;
    try {
      ok = satisfies(licence, allowed);
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
      continue;
    }
    if (!ok) {
      const kind = dev ? ' (dev)' : '';
      problems.push(`${where}${kind}: licence "${licence}" is not in the allow-list (${allowed.join(', ')})`);
    } else {
      for (const t of tokens(licence)) if (allowed.includes(t)) used.add(t);
    }
  }
  for (const name of Object.keys(exceptions)) {
    if (!used.has(`exception:${name}`) && !packages.some((p) => p.name === name)) {
      problems.push(`EXCEPTIONS names ${name}, which is no longer in the lock file: remove it`);
    }
  }
  return { problems, packages, used };
}

// --- The credits -----------------------------------------------------------------------------------

/**
 * The npm packages in the page, from the bundle spy's report: esbuild inputs that put bytes in an
 * output, and files read out of node_modules other than licence files. Returns a sorted array.
 */
export function bundledPackages(report) {
  const names = new Set();
  for (const metafile of report.metafiles ?? []) {
    for (const output of Object.values(metafile.outputs ?? {})) {
      for (const [input, { bytesInOutput }] of Object.entries(output.inputs ?? {})) {
        const name = packageOf(input);
        if (name && bytesInOutput > 0) names.add(name);
      }
    }
  }
  for (const file of report.reads ?? []) {
    const name = packageOf(file);
    if (name && !LICENCE_FILE.test(basename(file))) names.add(name);
  }
  return [...names].sort();
}

const squash = (s) => s.replace(/\s+/g, ' ').trim();

/**
 * Problems with the credits: each bundled package must be named in THIRD-PARTY.txt and its licence
 * text (whitespace aside) must be in it. `licenceText(name)` returns the package's licence file
 * contents, or null when it has none.
 */
export function checkCredits(bundled, thirdParty, licenceText) {
  const problems = [];
  const credits = squash(thirdParty);
  for (const name of bundled) {
    const named = new RegExp(`(^|[^\\w@/-])${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}([^\\w/-]|$)`, 'i');
    if (!named.test(thirdParty)) problems.push(`${name} is in the page but THIRD-PARTY.txt does not name it`);
    const text = licenceText(name);
    if (text === null) problems.push(`${name} is in the page but has no licence file to credit`);
    else if (!credits.includes(squash(text))) problems.push(`${name}'s licence text is not in THIRD-PARTY.txt`);
  }
  return problems;
}

// --- Running it ------------------------------------------------------------------------------------

function licenceFile(web, name) {
  const dir = join(web, 'node_modules', name);
  if (!existsSync(dir)) return null;
  const file = readdirSync(dir).sort().find((f) => LICENCE_FILE.test(f));
  return file ? readFileSync(join(dir, file), 'utf8') : null;
}

/** Runs build.mjs with the bundle spy into a temporary folder; returns { report, thirdParty }. */
function spyOnBuild(web) {
  const tmp = mkdtempSync(join(tmpdir(), 'qs-npm-licences-'));
  try {
    const out = join(tmp, 'web');
    const reportFile = join(tmp, 'bundle-report.json');
    const spy = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'lib', 'bundle-spy.mjs')).href;
    const run = spawnSync(process.execPath, ['--import', spy, 'build.mjs', out], {
      cwd: web,
      env: { ...process.env, BUNDLE_SPY_REPORT: reportFile },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (run.status !== 0) throw new Error(`node build.mjs failed (${run.error ?? `exit ${run.status}`})`);
    return {
      report: JSON.parse(readFileSync(reportFile, 'utf8')),
      thirdParty: readFileSync(join(out, 'THIRD-PARTY.txt'), 'utf8'),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const web = resolve(process.argv[2] ?? join(root, 'workloads/frontend/web'));
  if (!existsSync(join(web, 'node_modules/.package-lock.json'))) {
    console.error(`npm-licences: ${web}/node_modules is not installed (run npm ci there)`);
    process.exit(2);
  }
  const lock = JSON.parse(readFileSync(join(web, 'package-lock.json'), 'utf8'));
  const installed = (path) => {
    const f = join(web, path, 'package.json');
    return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null;
  };
  const { problems, packages, used } = checkLock(lock, installed);
  for (const licence of ALLOWED.filter((l) => !used.has(l))) {
    console.warn(`warning: ${licence} is allowed but no package uses it any more: remove it from ALLOWED`);
  }

  const { report, thirdParty } = spyOnBuild(web);
  const bundled = bundledPackages(report);
  if (!(report.metafiles ?? []).length) problems.push('build.mjs ran no esbuild.build (the spy saw no metafile)');
  problems.push(...checkCredits(bundled, thirdParty, (name) => licenceFile(web, name)));

  const prod = packages.filter((p) => !p.dev).length;
  console.log(`npm licences: ${packages.length} packages in the lock file (${prod} production, `
    + `${packages.length - prod} dev), allow-list ${ALLOWED.join(', ')}; `
    + `exceptions: ${Object.entries(EXCEPTIONS).map(([n, e]) => `${n} (${e.licence})`).join(', ') || 'none'}`);
  console.log(`in the page (esbuild's metafile and files read from node_modules): ${bundled.join(', ') || 'none'}`);
  if (problems.length) {
    for (const p of problems) console.error(`FAIL: ${p}`);
    process.exit(1);
  }
  console.log('npm licences and credits: ok');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
