// Shared by the browser tests and the benchmarks: starts examples/fixture.rs and talks to its control port.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { crc32, deflateSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Runs the fixture; resolves with its announced {url, control, events, indexed} and a stop(). */
export async function startFixture(path, args = ['--rate-limit', '0']) {
  const bin = path || process.env.QS_FIXTURE || join(repo, 'target/debug/examples/fixture');
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`fixture exited with ${code}`)));
    lines.on('line', (l) => { try { const v = JSON.parse(l); if (v.url) ok(v); } catch { /* a log line */ } });
  });
  info.stop = async () => {
    child.stdin.end();
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  };
  return info;
}

/** POSTs one record (a Quake, or {action, quake}) to the fixture's topic. */
export async function produce(fx, body) {
  const r = await fetch(`${fx.control}/produce`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`produce: ${r.status} ${await r.text()}`);
}

/** A valid quake for the fixture, origin time now unless overridden. */
export function quake(unid, over = {}) {
  const now = new Date().toISOString();
  return { unid, time: now, lastupdate: now, lat: 38.1, lon: 21.4, depth_km: 12, mag: 5.6, magtype: 'mw',
    region: 'SOUTHERN GREECE', agency: 'EMSC', evtype: 'ke', source: 'emsc', ...over };
}

/** Produces `count` new events spread evenly over `spreadMs`, at places around the world. */
export async function burst(fx, prefix, count, spreadMs) {
  const ids = [];
  const sends = [];
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * spreadMs) / count - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const unid = `${prefix}-${i}`;
    ids.push(unid);
    // A deterministic spread of places, depths and magnitudes.
    const lat = -60 + ((i * 37) % 120);
    const lon = -180 + ((i * 73) % 360);
    sends.push(produce(fx, quake(unid, { lat, lon, depth_km: (i * 13) % 400, mag: 2 + ((i * 7) % 60) / 10, region: `BURST REGION ${i}` })));
  }
  await Promise.all(sends);
  return ids;
}

/** A 256×256 PNG of one colour (a stand-in OpenStreetMap tile). */
export function solidPng(r, g, b) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(256, 0); ihdr.writeUInt32BE(256, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: 256 }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: 256 }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Width and height from a PNG's header; throws if it is not a PNG. */
export function pngSize(buf) {
  if (buf.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a' || buf.subarray(12, 16).toString('ascii') !== 'IHDR') throw new Error('not a PNG');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}
