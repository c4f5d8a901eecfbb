/** The conformance fixture's expected values and small numeric helpers for assertions. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { rowCosines } from '../../tool/quantize/row-cosines.ts';
import { TINY } from './paths.ts';

export { rowCosines };

export interface Expected {
  image_features: number[][];
  text_features: number[][];
  texts: string[];
  text_tokens: number[][];
  logit_scale: number;
  logits_per_image: number[][];
}

/** A conformance fixture's expected values (tiny/, outliers/). */
export const expectedOf = (fixture: string): Expected =>
  JSON.parse(readFileSync(resolve(fixture, 'expected.json'), 'utf8')) as Expected;

export const expected = expectedOf(TINY);

/** A conformance fixture's input images, [3,3,64,64] float32. */
export function fixtureImages(fixture: string): Float32Array {
  const b = readFileSync(resolve(fixture, 'images.f32'));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

export const tinyImages = (): Float32Array => fixtureImages(TINY);

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => rowCosines(a, b, a.length)[0];
