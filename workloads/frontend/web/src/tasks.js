// Keeping the page responsive: long work is cut into tasks that each leave the main thread
// quickly, so input and rendering never wait long (Lighthouse's total blocking time).

/** Lets the browser handle input and render before the next piece of work. */
export const yieldToPage = () => new Promise((r) => setTimeout(r, 0));
