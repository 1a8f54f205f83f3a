// Keeping the page responsive: long work is cut into tasks that each leave the main thread
// quickly, so input and rendering never wait long (Lighthouse's total blocking time).

/** Lets the browser handle input and render before the next piece of work. */
export const yieldToPage = () => new Promise((r) => setTimeout(r, 0));

/** GeoJSON features added per task (about 2 ms each on a phone-class CPU). */
export const FEATURE_CHUNK = 20;

/** Adds `features` to a Leaflet GeoJSON layer a few at a time; `stop()` abandons it. */
export async function addInChunks(layer, features, stop = () => false, size = FEATURE_CHUNK) {
  for (let i = 0; i < features.length; i += size) {
    if (stop()) return false;
    layer.addData(features.slice(i, i + size));
    await yieldToPage();
  }
  return true;
}
