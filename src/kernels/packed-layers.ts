/**
 * A build's layers packed into kernel memory from its initializers, under the names tool/graphs/layers.ts gives them:
 * LayerNorms, and linears int8 (with their input scale and fp32 side channels) or fp32 whole.
 */
import type { Kernels, PackedLinear } from './kernels.ts';
import type { Initializers } from './onnx-initializers.ts';

/** A LayerNorm's gain and bias in kernel memory. */
export interface PackedNorm {
  gain: number;
  bias: number;
}

export function packNorm(k: Kernels, w: Initializers, prefix: string): PackedNorm {
  return { gain: k.put(w.f32(`${prefix}.weight`)), bias: k.put(w.f32(`${prefix}.bias`)) };
}

export function packLinear(k: Kernels, w: Initializers, name: string): PackedLinear {
  const bias = w.has(`${name}.bias`) ? w.f32(`${name}.bias`) : undefined;
  if (!w.has(`${name}.weight_q`)) {
    const [inK, n] = w.dims(`${name}.weight_t`);
    return k.packFp32(w.f32(`${name}.weight_t`), inK, n, bias);
  }
  const [inK, n] = w.dims(`${name}.weight_q`);
  const side = w.has(`${name}.weight_fp32_rows`)
    ? { channels: w.indices(`${name}.fp32_channels`), weight: w.f32(`${name}.weight_fp32_rows`) }
    : undefined;
  const inScale = w.has(`${name}.input_scale`) ? w.f32(`${name}.input_scale`) : undefined;
  return k.pack(w.i8(`${name}.weight_q`), inK, n, w.f32(`${name}.weight_scale`), { bias, inScale, side });
}
