import assert from 'node:assert/strict';

/** |got - want| <= 1e-12 * max(1, |want|): metric sums in float64 differ from numpy only in ULPs. */
export function close(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${what}: got ${got}, want ${want}`);
}
