// Module resolution hook of scripts/lib/bundle-spy.mjs: an `import ... from 'esbuild'` outside
// node_modules gets esbuild-spy.mjs, told (in its URL) where the importing file is, so that it loads
// the same esbuild the import would have loaded.
const SPY = new URL('./esbuild-spy.mjs', import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL ?? '';
  if (specifier === 'esbuild' && parent.startsWith('file:') && !parent.includes('/node_modules/')
    && !parent.startsWith(SPY.href)) {
    const url = new URL(SPY);
    url.searchParams.set('parent', parent);
    return { url: url.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
