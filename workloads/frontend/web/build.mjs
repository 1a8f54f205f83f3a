// Bundles the page into the folder given as the first argument (build.rs passes $OUT_DIR/web).
// Everything comes from npm packages in node_modules and files in this folder; nothing is fetched
// at run time. What it writes:
//   index.html                 the page, naming the hashed files below
//   app-HASH.js, app-HASH.css  the bundle (esbuild), and its chunks under esbuild's hashed names
//                              (mapview-HASH.js: the map and Leaflet; chart-HASH.js: the activity
//                              chart and uPlot; chunk-HASH.js: shared code)
//   countries-HASH.json        Natural Earth 1:110m (TopoJSON, world-atlas), the offline basemap
//   plates-HASH.json           PB2002 plate boundaries as GeoJSON (plates.mjs)
//   icon-HASH.svg              the favicon
//   THIRD-PARTY.txt, robots.txt
//   X.gz, X.br                 gzip and brotli copies of every file they make smaller
//   manifest.json              for src/assets.rs: per file its type, strong ETag, whether its name
//                              is content-hashed (immutable) and which compressed copies exist
import * as esbuild from 'esbuild';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync, brotliCompressSync, constants as z } from 'node:zlib';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digToGeoJSON } from './plates.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const TYPES = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8',
  json: 'application/json', svg: 'image/svg+xml', txt: 'text/plain; charset=utf-8',
};
// esbuild's names for chunks: NAME-HASH.js, HASH 8 characters of base32 of the contents.
const ESBUILD_HASHED = /^[a-z]+-[A-Z2-7]{8}\.js$/;
// A compressed copy is kept only when it saves at least this share of the bytes.
const MIN_SAVING = 0.1;
const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const files = {}; // name -> contents

/** Adds a file under a name with a content hash ("plates" + ".json" -> "plates-0123abcd4567.json"). */
function hashed(stem, ext, contents) {
  const name = `${stem}-${sha(contents).slice(0, 12)}.${ext}`;
  files[name] = Buffer.from(contents);
  return name;
}

// Data files first: the bundle gets their hashed URLs through `define`.
const topo = readFileSync(join(here, 'node_modules/world-atlas/countries-110m.json'));
const plates = JSON.stringify(digToGeoJSON(readFileSync(join(here, 'data/PB2002_boundaries.dig.txt'), 'utf8')));
const icon = readFileSync(join(here, 'src/icon.svg'));
const urls = {
  countries: `/assets/${hashed('countries', 'json', topo)}`,
  plates: `/assets/${hashed('plates', 'json', plates)}`,
};
const iconName = hashed('icon', 'svg', icon);

const built = await esbuild.build({
  entryPoints: [join(here, 'src/app.js'), join(here, 'src/app.css')],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  // ES modules split into chunks: the map (Leaflet) is imported after the first frame, so the
  // page's first task does not evaluate it. Chunks keep esbuild's content-hashed names, because
  // the modules import each other by those names.
  format: 'esm',
  splitting: true,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  write: false,
  outdir: out,
  loader: { '.png': 'dataurl', '.svg': 'dataurl' },
  define: { __ASSET_URLS__: JSON.stringify(urls) },
  legalComments: 'none', // the licences are in THIRD-PARTY.txt
  logLevel: 'warning',
});
const bundle = { chunks: [] };
for (const f of built.outputFiles) {
  const name = basename(f.path);
  if (name === 'app.js') bundle.js = hashed('app', 'js', f.contents);
  else if (name === 'app.css') bundle.css = hashed('app', 'css', f.contents);
  else if (ESBUILD_HASHED.test(name)) { files[name] = Buffer.from(f.contents); bundle.chunks.push(name); }
  else throw new Error(`unexpected esbuild output ${name}`);
}
// The shared chunk is fetched beside the entry instead of after it. The map's chunk is not: on a
// slow connection it would share the bandwidth with the stylesheet and delay the first paint.
const preloads = bundle.chunks.filter((c) => c.startsWith('chunk-')).sort()
  .map((c) => `<link rel="modulepreload" href="/assets/${c}">`).join('\n  ');

files['index.html'] = Buffer.from(readFileSync(join(here, 'src/index.html'), 'utf8')
  .replaceAll('/assets/app.css', `/assets/${bundle.css}`)
  .replaceAll('/assets/app.js', `/assets/${bundle.js}`)
  .replaceAll('/assets/icon.svg', `/assets/${iconName}`)
  .replace('<!-- modulepreload -->', preloads));
for (const ref of ['app.css', 'app.js', 'icon.svg']) {
  if (files['index.html'].includes(`/assets/${ref}`)) throw new Error(`index.html still names /assets/${ref}`);
}
files['robots.txt'] = Buffer.from('User-agent: *\nAllow: /\n');

const licence = (p) => readFileSync(join(here, 'node_modules', p), 'utf8');
files['THIRD-PARTY.txt'] = Buffer.from([
  'Leaflet (BSD-2-Clause)\n' + licence('leaflet/LICENSE'),
  'topojson-client (ISC)\n' + licence('topojson-client/LICENSE'),
  'uPlot (MIT), the activity and sequence charts\n' + licence('uplot/LICENSE'),
  'world-atlas (ISC); data: Natural Earth, public domain\n' + licence('world-atlas/LICENSE'),
  'Tectonic plate boundaries: model PB2002, Bird, P. (2003), An updated digital model of plate boundaries,\n'
    + 'Geochemistry, Geophysics, Geosystems, 4(3), 1027, doi:10.1029/2001GC000252.\n'
    + 'Made available under the Open Data Commons Attribution License 1.0 (ODC-By),\n'
    + 'http://opendatacommons.org/licenses/by/1.0/ (via github.com/fraxen/tectonicplates).\n'
    + 'Converted to GeoJSON (antimeridian-split LineStrings) by QuakeStream\'s web/plates.mjs.',
  'Map tiles (online only, when the OpenStreetMap basemap is shown): (c) OpenStreetMap contributors,\n'
    + 'Open Database License (ODbL), https://www.openstreetmap.org/copyright',
].join('\n\n----\n\n'));

const manifest = {};
for (const [name, contents] of Object.entries(files)) {
  const ext = name.split('.').pop();
  const encodings = [];
  const keep = (enc, data) => {
    if (data.length <= contents.length * (1 - MIN_SAVING)) {
      writeFileSync(join(out, `${name}.${enc === 'gzip' ? 'gz' : 'br'}`), data);
      encodings.push(enc);
    }
  };
  keep('br', brotliCompressSync(contents, { params: { [z.BROTLI_PARAM_QUALITY]: 11, [z.BROTLI_PARAM_SIZE_HINT]: contents.length } }));
  keep('gzip', gzipSync(contents, { level: 9 }));
  writeFileSync(join(out, name), contents);
  manifest[name] = {
    type: TYPES[ext] || 'application/octet-stream',
    etag: sha(contents).slice(0, 24),
    immutable: /-[0-9a-f]{12}\.[a-z]+$/.test(name) || ESBUILD_HASHED.test(name),
    encodings,
  };
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
