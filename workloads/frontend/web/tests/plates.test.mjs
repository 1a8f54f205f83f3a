// Unit tests of the PB2002 converter (no browser, no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDig, splitAntimeridian, digToGeoJSON } from '../plates.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('the bundled PB2002 file parses into its 229 segments and 6,048 points', () => {
  const segs = parseDig(readFileSync(join(here, '../data/PB2002_boundaries.dig.txt'), 'utf8'));
  assert.equal(segs.length, 229);
  assert.equal(segs.reduce((n, s) => n + s.points.length, 0), 6048);
  assert.deepEqual(segs[0], { name: 'AF-AN', left: 'AF', right: 'AN', kind: 'boundary', source: 'Mueller et al. [1987]',
    points: segs[0].points });
  assert.equal(segs.find((s) => s.name === 'EU\\AF').kind, 'subduction');
});

test('lines crossing the antimeridian are cut at ±180 and no piece jumps across the map', () => {
  const parts = splitAntimeridian([[179, -10], [-179, -12], [-178, -13]]);
  assert.deepEqual(parts, [[[179, -10], [180, -11]], [[-180, -11], [-179, -12], [-178, -13]]]);
  const west = splitAntimeridian([[-179.5, 0], [179.5, 2]]);
  assert.deepEqual(west, [[[-179.5, 0], [-180, 1]], [[180, 1], [179.5, 2]]]);
  const fc = digToGeoJSON(readFileSync(join(here, '../data/PB2002_boundaries.dig.txt'), 'utf8'));
  assert.ok(fc.features.length > 229, 'some segments (Pacific-Antarctic, Kermadec, Fiji, Aleutians) are split');
  for (const f of fc.features) {
    const c = f.geometry.coordinates;
    for (let i = 1; i < c.length; i++) assert.ok(Math.abs(c[i][0] - c[i - 1][0]) <= 180, `${f.properties.name} jumps`);
  }
});

test('malformed input names the line', () => {
  assert.throws(() => parseDig('AF-AN\n 1,2\n'), /no end marker/);
  assert.throws(() => parseDig('AF-AN\n 1;2\n*** end of line segment ***\n'), /line 2/);
  assert.throws(() => parseDig('hello\n'), /line 1/);
});
