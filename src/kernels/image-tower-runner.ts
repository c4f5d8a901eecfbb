/**
 * The int8 ConvNeXt image tower run wholly in our kernel module (issue #26's prototype): stem, blocks (depthwise 7×7,
 * LayerNorm, MLP, layer scale and residual), downsampling and head, the activations staying in the kernel's memory
 * from pixels to embedding. Its weights are the int8 build's own initializers (tool/graphs/image-tower.ts and
 * layers.ts name them), so its quantization is onnxruntime's: outputs agree with the onnxruntime-web tower to rounding
 * (LayerNorm and the float convolutions sum in another order).
 */

import type { Kernels, PackedDepthwise, PackedLinear } from './kernels.ts';
import type { Initializers } from './onnx-initializers.ts';
import { type PackedNorm, packLinear, packNorm } from './packed-layers.ts';

/** timm ConvNeXt's LayerNorm epsilon (tool/graphs/image-tower.ts). */
const EPS = 1e-6;

interface Block {
  conv: PackedDepthwise;
  norm: PackedNorm;
  fc1: PackedLinear;
  fc2: PackedLinear;
  gamma: number;
}

interface Stage {
  c: number;
  downsample?: { norm: PackedNorm; linear: PackedLinear };
  blocks: Block[];
}

export class ImageTowerRunner {
  private constructor(
    private readonly k: Kernels,
    private readonly imageSize: number,
    private readonly stem: { weight: PackedLinear; norm: PackedNorm },
    private readonly stages: Stage[],
    private readonly head: { norm: PackedNorm; fc1: PackedLinear; fc2: PackedLinear },
  ) {}

  /** Packs the tower's weights from an int8 build's initializers (every image segment's) into kernel memory. */
  static load(k: Kernels, w: Initializers, imageSize: number): ImageTowerRunner {
    const norm = (prefix: string) => packNorm(k, w, prefix);
    const linear = (name: string) => packLinear(k, w, name);
    // The stem's 4×4 stride-4 convolution as an fp32 linear over (channel, kh, kw) patches.
    const [c0] = w.dims('stem.weight');
    const stemW = w.f32('stem.weight');
    const stemT = new Float32Array(48 * c0);
    for (let o = 0; o < c0; o++) for (let t = 0; t < 48; t++) stemT[t * c0 + o] = stemW[o * 48 + t];
    const stem = { weight: k.packFp32(stemT, 48, c0, w.f32('stem.bias')), norm: norm('stem.norm') };
    const stages: Stage[] = [];
    for (let s = 0; w.has(`visual.trunk.stages.${s}.blocks.0.conv_dw.weight`); s++) {
      const st = `visual.trunk.stages.${s}`;
      const blocks: Block[] = [];
      for (let b = 0; w.has(`${st}.blocks.${b}.conv_dw.weight`); b++) {
        const bl = `${st}.blocks.${b}`;
        blocks.push({
          conv: k.packDepthwise(w.f32(`${bl}.conv_dw.weight`), w.f32(`${bl}.conv_dw.bias`)),
          norm: norm(`${bl}.norm`),
          fc1: linear(`${bl}.mlp.fc1`),
          fc2: linear(`${bl}.mlp.fc2`),
          gamma: k.put(w.f32(`${bl}.gamma`)),
        });
      }
      const downsample = s > 0 ? { norm: norm(`${st}.downsample.0`), linear: linear(`${st}.downsample.1`) } : undefined;
      stages.push({ c: blocks[0].fc1.k, downsample, blocks });
    }
    const head = { norm: norm('head.norm'), fc1: linear('head.fc1'), fc2: linear('head.fc2') };
    return new ImageTowerRunner(k, imageSize, stem, stages, head);
  }

  /** The embedding of one image: pixels [3, S, S] (the tower's normalized input), as the int8 tower computes it. */
  run(pixels: Float32Array): Float32Array {
    const steps = this.steps(pixels, []);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The same work in steps: it pauses after each unit index in `cuts` (units in the build's order, as
   * `imageUnits` in tool/graphs/image-tower.ts counts them: stem, per stage its downsampling and blocks, head), so a
   * caller can take one scheduler turn per step. Kernel memory is held until the generator finishes or is returned:
   * one run at a time per kernel instance.
   */
  *steps(pixels: Float32Array, cuts: readonly number[]): Generator<void, Float32Array> {
    const { k, imageSize } = this;
    const x = k.x;
    if (pixels.length !== 3 * imageSize * imageSize) throw new RangeError(`pixels must be 3×${imageSize}×${imageSize}`);
    const mark = x.mark();
    try {
      let h = imageSize / 4;
      let c = this.stem.weight.n;
      let unit = 0;
      const pause = (): boolean => cuts.includes(++unit);
      // Three maps of the largest stage's size, reused by every stage (a downsampling's patches fit one: the same
      // values, rearranged); the stem's patches, quantized rows and MLP bands are released as soon as they are used.
      const largest = Math.max(...this.stages.map((st, s) => (h / 2 ** s) ** 2 * st.c)) * 4;
      const map = k.scratch(largest);
      const mixed = k.scratch(largest);
      const mlp = k.scratch(largest);
      const inner = x.mark();
      const patches = k.scratch(h * h * 48 * 4);
      x.stem_patches(k.put(pixels), imageSize, patches);
      k.linearAt(this.stem.weight, patches, h * h, map);
      x.release(inner);
      x.layer_norm(map, h * h, c, this.stem.norm.gain, this.stem.norm.bias, EPS);
      if (pause()) yield;
      for (const stage of this.stages) {
        if (stage.downsample) {
          const { norm, linear } = stage.downsample;
          x.layer_norm(map, h * h, c, norm.gain, norm.bias, EPS);
          x.patchify2(map, h, c, mixed);
          h /= 2;
          c = stage.c;
          k.linearAt(linear, mixed, h * h, map);
          if (pause()) yield;
        }
        for (const b of stage.blocks) {
          x.depthwise7(map, h, h, c, b.conv.k, b.conv.bias, mixed);
          x.layer_norm(mixed, h * h, c, b.norm.gain, b.norm.bias, EPS);
          k.mlpAt(b.fc1, b.fc2, mixed, h * h, mlp);
          x.scale_add(map, mlp, b.gamma, h * h, c);
          if (pause()) yield;
        }
      }
      // timm's head: global average pool, LayerNorm, then OpenCLIP's MLP projection.
      const rows = k.output(map, h * h * c);
      const pooled = new Float32Array(c);
      for (let r = 0; r < h * h; r++) for (let j = 0; j < c; j++) pooled[j] += rows[r * c + j];
      for (let j = 0; j < c; j++) pooled[j] /= h * h;
      const v = k.put(pooled);
      x.layer_norm(v, 1, c, this.head.norm.gain, this.head.norm.bias, EPS);
      const hidden = k.scratch(this.head.fc1.n * 4);
      k.linearAt(this.head.fc1, v, 1, hidden);
      x.fast_gelu(hidden, this.head.fc1.n);
      const out = k.scratch(this.head.fc2.n * 4);
      k.linearAt(this.head.fc2, hidden, 1, out);
      return k.output(out, this.head.fc2.n);
    } finally {
      x.release(mark);
    }
  }
}
