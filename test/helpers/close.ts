import assert from 'node:assert/strict';

/** Tolerances, named once (tinygrad/tfjs style). */
export const TOL = {
  /** float32 forward vs float64 golden on tiny models (the fixtures' contract). */
  parityF32: 1e-4,
  /** single kernel vs float64 reference, relative to the magnitude of the reference. */
  kernelRel: 1e-5,
} as const;

export type NestedNumbers = number | NestedNumbers[];

function flatten(x: NestedNumbers | ArrayLike<number>, out: number[] = []): number[] {
  if (typeof x === 'number') out.push(x);
  else for (let i = 0; i < x.length; i++) flatten((x as ArrayLike<NestedNumbers>)[i] as NestedNumbers, out);
  return out;
}

/** Max |got - want| over all elements; NaN anywhere fails. Returns the max error for reporting. */
export function assertAllClose(
  got: NestedNumbers | ArrayLike<number>,
  want: NestedNumbers | ArrayLike<number>,
  atol: number,
  what = 'values',
  rtol = 0,
): number {
  const g = flatten(got);
  const w = flatten(want);
  assert.equal(g.length, w.length, `${what}: length ${g.length} != ${w.length}`);
  let maxErr = 0;
  let firstBad = -1;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i] as number;
    const wi = w[i] as number;
    if (Number.isNaN(gi) || Number.isNaN(wi)) assert.fail(`${what}: NaN at ${i} (got ${gi}, want ${wi})`);
    const err = Math.abs(gi - wi);
    if (err > maxErr) maxErr = err;
    if (firstBad < 0 && err > atol + rtol * Math.abs(wi)) firstBad = i;
  }
  if (firstBad >= 0) {
    assert.fail(
      `${what}: max |got-want| = ${maxErr} > atol ${atol} (+rtol ${rtol}); first bad index ${firstBad}: got ${g[firstBad]}, want ${w[firstBad]}`,
    );
  }
  return maxErr;
}
