import { describe, expect, it } from 'vitest';
import {
  type Classifier,
  classifierOf,
  decodeClassifier,
  encodeClassifier,
} from '../../src/contracts/classifier-blob.ts';

const build = { modelId: 'm', buildHash: 'h', embedDim: 4 };
const set = { name: 'pets', labels: ['cat', 'dog'], templates: ['a {c}'] };
const good = () => classifierOf(build, set, 'int8', 'float32', new Float32Array(8).fill(0.5));

/** A blob whose header was edited after the fact (as an attacker or a broken tool would), rows sized to it. */
function tampered(change: Partial<Classifier['header']>): Uint8Array {
  const c = good();
  const header = { ...c.header, ...change } as Classifier['header'];
  const n = header.labels.length * (Number.isSafeInteger(header.dim) ? header.dim : 4);
  return encodeClassifier({ header, weights: new Float32Array(n) });
}

describe('classifier blobs are checked, not trusted', () => {
  it('round-trips a good blob', () => {
    const c = good();
    const back = decodeClassifier(encodeClassifier(c));
    expect(back.header).toEqual(c.header);
    expect([...back.weights]).toEqual(new Array(8).fill(0.5));
  });

  it.each([
    [{ precision: 'x' as never }, /precision must be one of fp32, int8/],
    [{ dim: 2.5 }, /dim must be an integer|bytes, expected/],
    [{ labels: [1, 2] as never }, /name and labels must be strings/],
  ])('refuses a header with %j', (change, message) => {
    expect(() => decodeClassifier(tampered(change))).toThrow(message);
  });

  it('refuses a dtype other than float16/float32', () => {
    const blob = encodeClassifier(good());
    // Overwrite the dtype in place (same length), so that only it differs.
    const at = Buffer.from(blob).indexOf('"float32"');
    const edited = blob.slice();
    edited.set(new TextEncoder().encode('"float99"'), at);
    expect(() => decodeClassifier(edited)).toThrow(/dtype must be float16 or float32/);
  });
});
