/**
 * Interrupts for long async work. tslab stops a synchronous cell on SIGINT (breakOnSigint) and
 * abandons an awaiting one, but the awaited work keeps running: training loops therefore check
 * `$nb.signal` between steps. Each cell runs in an AsyncLocalStorage context holding the signal
 * that was current when it started, so work a cell started (even in the background) keeps seeing
 * that signal; an interrupt aborts it, and cells started afterwards get a fresh one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

let controller = new AbortController();
const cellSignal = new AsyncLocalStorage<AbortSignal>();

/** The signal of the cell this code belongs to (or the current one outside cells). */
export function currentSignal(): AbortSignal {
  return cellSignal.getStore() ?? controller.signal;
}

/** Runs a cell's code with the current signal bound to everything it starts. */
export function withCellSignal<T>(fn: () => Promise<T>): Promise<T> {
  return cellSignal.run(controller.signal, fn);
}

/** Aborts everything started since the last interrupt; later cells get a fresh signal. */
export function interruptAll(reason = 'interrupted by the user (SIGINT)'): void {
  const c = controller;
  controller = new AbortController();
  c.abort(new Error(reason));
}
