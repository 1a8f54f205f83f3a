// Converts Peter Bird's PB2002 plate-boundary file (.dig, see data/README.md) into GeoJSON.
// A segment is a title line ("AF-AN", "EU/AF", "EU\AF", optionally followed by its source from
// byte 27), then one "lon,lat" line per point, then "*** end of line segment ***". Each segment
// becomes one LineString, or several when it crosses the antimeridian: the line is cut at ±180°
// (latitude interpolated), so no piece is drawn the long way round the world.

const END = '*** end of line segment ***';

/** Longitude in [-180, 180] (the format allows 180..360 for western points). */
const wrap = (x) => (x > 180 ? x - 360 : x < -180 ? x + 360 : x);
const round = (v) => Math.round(v * 1e5) / 1e5;

/** Splits a polyline of [lon, lat] at the antimeridian. Returns a list of polylines. */
export function splitAntimeridian(points) {
  const parts = [];
  let cur = [];
  for (let i = 0; i < points.length; i++) {
    const p = [wrap(points[i][0]), points[i][1]];
    if (cur.length) {
      const q = cur[cur.length - 1];
      const dx = p[0] - q[0];
      if (Math.abs(dx) > 180) {
        // The short way crosses ±180: q is on one side, p on the other.
        const side = q[0] > 0 ? 180 : -180;
        const pUnwrapped = p[0] + (side > 0 ? 360 : -360);
        const t = (side - q[0]) / (pUnwrapped - q[0]);
        const lat = q[1] + t * (p[1] - q[1]);
        cur.push([side, lat]);
        if (cur.length > 1) parts.push(cur);
        cur = [[-side, lat]];
      }
    }
    cur.push(p);
  }
  if (cur.length > 1) parts.push(cur);
  return parts;
}

/** Parses the .dig text into segments { name, left, right, kind, source, points }. */
export function parseDig(text) {
  const segments = [];
  let seg = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '') return;
    if (line === END) {
      if (!seg) throw new Error(`line ${i + 1}: end marker outside a segment`);
      segments.push(seg);
      seg = null;
      return;
    }
    if (seg === null) {
      const m = /^([A-Z]{2})([-/\\])([A-Z]{2})/.exec(line);
      if (!m) throw new Error(`line ${i + 1}: expected a segment title like "AF-AN", got ${JSON.stringify(line)}`);
      seg = { name: `${m[1]}${m[2]}${m[3]}`, left: m[1], right: m[3], kind: m[2] === '-' ? 'boundary' : 'subduction',
        source: line.slice(27).trim(), points: [] };
      return;
    }
    const parts = line.split(',');
    const lon = Number(parts[0]);
    const lat = Number(parts[1]);
    if (parts.length !== 2 || !Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lat) > 90) {
      throw new Error(`line ${i + 1}: expected "lon,lat", got ${JSON.stringify(line)}`);
    }
    seg.points.push([lon, lat]);
  });
  if (seg) throw new Error(`segment ${seg.name} has no end marker`);
  return segments;
}

/** The .dig text as a GeoJSON FeatureCollection of LineStrings. */
export function digToGeoJSON(text) {
  const features = [];
  for (const s of parseDig(text)) {
    for (const part of splitAntimeridian(s.points)) {
      features.push({
        type: 'Feature',
        properties: { name: s.name, left: s.left, right: s.right, kind: s.kind },
        geometry: { type: 'LineString', coordinates: part.map(([x, y]) => [round(x), round(y)]) },
      });
    }
  }
  return { type: 'FeatureCollection', features };
}
