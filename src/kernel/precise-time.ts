/** Milliseconds since the epoch with sub-millisecond precision (a fast cell fails within 1-2 ms). */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
