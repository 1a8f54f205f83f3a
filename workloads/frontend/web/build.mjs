// Bundles the page into the folder given as the first argument (build.rs passes $OUT_DIR/web).
// Everything comes from npm packages in node_modules; nothing is fetched at run time.
import * as esbuild from 'esbuild';
import { mkdirSync, copyFileSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digToGeoJSON } from './plates.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: [join(here, 'src/app.js'), join(here, 'src/app.css')],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  outdir: out,
  loader: { '.png': 'dataurl', '.svg': 'dataurl' },
  legalComments: 'linked',
  logLevel: 'warning',
});

copyFileSync(join(here, 'src/index.html'), join(out, 'index.html'));
// Natural Earth 1:110m countries (public domain), as TopoJSON from the world-atlas package.
copyFileSync(join(here, 'node_modules/world-atlas/countries-110m.json'), join(out, 'countries-110m.json'));
// Tectonic plate boundaries: Bird (2003), PB2002 (ODC-By 1.0), converted from the bundled .dig file.
writeFileSync(join(out, 'plates.json'), JSON.stringify(digToGeoJSON(readFileSync(join(here, 'data/PB2002_boundaries.dig.txt'), 'utf8'))));

const licence = (p) => readFileSync(join(here, 'node_modules', p), 'utf8');
writeFileSync(join(out, 'THIRD-PARTY.txt'), [
  'Leaflet (BSD-2-Clause)\n' + licence('leaflet/LICENSE'),
  'topojson-client (ISC)\n' + licence('topojson-client/LICENSE'),
  'world-atlas (ISC); data: Natural Earth, public domain\n' + licence('world-atlas/LICENSE'),
  'Tectonic plate boundaries: model PB2002, Bird, P. (2003), An updated digital model of plate boundaries,\n'
    + 'Geochemistry, Geophysics, Geosystems, 4(3), 1027, doi:10.1029/2001GC000252.\n'
    + 'Made available under the Open Data Commons Attribution License 1.0 (ODC-By),\n'
    + 'http://opendatacommons.org/licenses/by/1.0/ (via github.com/fraxen/tectonicplates).\n'
    + 'Converted to GeoJSON (antimeridian-split LineStrings) by QuakeStream\'s web/plates.mjs.',
].join('\n\n----\n\n'));
