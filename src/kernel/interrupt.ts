/**
 * Interrupts for long async work. tslab stops a synchronous cell on SIGINT (breakOnSigint) and
 * abandons an awaiting one, but the awaited work keeps running: training loops therefore poll this
 * signal between steps (`$nb.signal`, also in `$nb.control()`).
 */
let controller = new AbortController();

export function currentSignal(): AbortSignal {
  return controller.signal;
}

/** Aborts everything started since the last interrupt; later cells get a fresh signal. */
export function interruptAll(reason = 'interrupted by the user (SIGINT)'): void {
  const c = controller;
  controller = new AbortController();
  c.abort(new Error(reason));
}
