/**
 * Starts onnxruntime's wasm runtime ahead of the first real session. Its first session pays for instantiating the
 * wasm module (280–460 ms in workerd, ~670 ms in Node: `npm run bench:profile`), which does not depend on any model
 * byte: started when a tower's load begins, it runs while the files stream in instead of after.
 */
import type { OrtModule } from './ports.ts';

const field = (n: number, body: number[]): number[] => [(n << 3) | 2, body.length, ...body];
const text = (n: number, s: string): number[] => field(n, [...new TextEncoder().encode(s)]);
const small = (n: number, v: number): number[] => [n << 3, v];
/** A float tensor value of any shape (ValueInfoProto with a TypeProto.Tensor of elem_type FLOAT). */
const floatValue = (name: string): number[] => [...text(1, name), ...field(2, field(1, small(1, 1)))];

/** The smallest model onnxruntime accepts: y = Identity(x), IR version 8, opset 17. */
export const IDENTITY_MODEL = Uint8Array.from([
  ...small(1, 8),
  ...field(8, [...text(1, ''), ...small(2, 17)]),
  ...field(7, [
    ...field(1, [...text(1, 'x'), ...text(2, 'y'), ...text(4, 'Identity')]),
    ...text(2, 'runtime-start'),
    ...field(11, floatValue('x')),
    ...field(12, floatValue('y')),
  ]),
]);

const started = new WeakMap<OrtModule, Promise<void>>();

/** Resolves once the runtime is up; every session must be created after it (onnxruntime refuses concurrent starts). */
export function startRuntime(ort: OrtModule): Promise<void> {
  let p = started.get(ort);
  if (!p) {
    p = ort.InferenceSession.create(IDENTITY_MODEL).then((s) => s.release());
    started.set(ort, p);
    // A failed start is not kept: the next load tries again and reports its own error.
    p.catch(() => started.delete(ort));
  }
  return p;
}
