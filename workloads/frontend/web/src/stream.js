// The live stream (/api/stream, Server-Sent Events). The page manages reconnection itself, so it
// can say what is happening: after an error (the server went away, refused the stream, or the
// network dropped) it waits with capped exponential backoff and jitter, shows the countdown, and
// resumes from the last event it saw (`last_event_id`). Offline, it waits for the network.

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 60000;

/** The delay before reconnection attempt `n` (1, 2, …): 1 s, 2 s, 4 s … 60 s, ±20 %. */
export function backoff(n, rnd = Math.random()) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, n - 1));
  return Math.round(base * (0.8 + 0.4 * rnd));
}

/**
 * Opens the stream. `query()` gives the filters' URLSearchParams; handlers: onHello(data, resumed),
 * onQuake(data), onStats(record) (a window of the analytics changed), onSequence(data) (a
 * sequence started, grew or changed state), onReset(), onState(state, detail) with state one of
 * 'connecting' | 'live' | 'waiting' (detail: seconds until the next try) | 'offline'.
 */
export function liveStream({ query, onHello, onQuake, onStats = () => {}, onSequence = () => {}, onReset, onState }) {
  let es = null;
  let lastId = '';
  let failures = 0;
  let wasDown = false;
  let timer = null;
  let tick = null;
  let retryAt = 0;

  const clearTimers = () => { clearTimeout(timer); clearInterval(tick); timer = tick = null; };
  const connect = () => {
    clearTimers();
    es?.close();
    const p = query();
    if (lastId) p.set('last_event_id', lastId);
    onState('connecting');
    es = new EventSource(`/api/stream?${p}`);
    es.addEventListener('hello', (e) => {
      failures = 0;
      onState('live');
      onHello(JSON.parse(e.data), wasDown);
      wasDown = false;
    });
    es.addEventListener('quake', (e) => { lastId = e.lastEventId || lastId; onQuake(JSON.parse(e.data)); });
    es.addEventListener('stats', (e) => { lastId = e.lastEventId || lastId; onStats?.(JSON.parse(e.data).record); });
    // Event names it does not know (a newer server's) are never dispatched: EventSource only
    // delivers the names a listener was added for.
    es.addEventListener('reset', () => onReset());
    es.addEventListener('sequence', (e) => onSequence(JSON.parse(e.data)));
    // The server dropped this client for falling behind: catch up from its ring straight away.
    es.addEventListener('lagged', () => { failures = 0; down(0); });
    es.onerror = () => down();
  };
  const down = (delay) => {
    es?.close();
    es = null;
    wasDown = true;
    if (navigator.onLine === false) { clearTimers(); onState('offline'); return; }
    failures++;
    const wait = delay ?? backoff(failures);
    retryAt = Date.now() + wait;
    clearTimers();
    timer = setTimeout(connect, wait);
    const show = () => onState('waiting', Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)));
    show();
    tick = setInterval(show, 1000);
  };
  addEventListener('offline', () => { if (es) down(); else { clearTimers(); onState('offline'); } });
  addEventListener('online', () => connect());
  connect();
  return {
    /** Reconnects now (new filters, or "Retry now"). */
    restart: () => { failures = 0; connect(); },
    get lastEventId() { return lastId; },
  };
}
