// esbuild as build.mjs sees it under scripts/lib/bundle-spy.mjs: the real esbuild (resolved from
// the importing file), except that build() also asks for a metafile and records it.
import { createRequire } from 'node:module';

const parent = new URL(import.meta.url).searchParams.get('parent');
if (!parent) throw new Error('esbuild-spy: loaded without the importing file in its URL');
const real = createRequire(parent)('esbuild');
const spy = (globalThis[Symbol.for('quakestream.bundleSpy')] ??= { metafiles: [], reads: [] });

export async function build(options) {
  const result = await real.build({ ...options, metafile: true });
  spy.metafiles.push(result.metafile);
  return result;
}
// The rest of esbuild's API, unchanged (a page built with these would show no metafile, and the
// check fails saying so).
export const {
  analyzeMetafile, analyzeMetafileSync, buildSync, context, formatMessages, formatMessagesSync,
  initialize, stop, transform, transformSync, version,
} = real;
export default { ...real, build };
