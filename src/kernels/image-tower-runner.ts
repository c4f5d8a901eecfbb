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

/**
 * One unit of the tower, as `imageUnits` in tool/graphs/image-tower.ts counts them (stem, per stage its downsampling
 * and blocks, head): a build segment is a run of consecutive units, and so is a runner.
 */
type Unit =
  | { kind: 'stem'; weight: PackedLinear; norm: PackedNorm }
  | { kind: 'downsample'; norm: PackedNorm; linear: PackedLinear }
  | { kind: 'block'; block: Block }
  | { kind: 'head'; norm: PackedNorm; fc1: PackedLinear; fc2: PackedLinear };

/** A feature map's side and channels. */
interface MapSize {
  h: number;
  c: number;
}

export class ImageTowerRunner {
  private constructor(
    private readonly k: Kernels,
    private readonly imageSize: number,
    private readonly units: Unit[],
  ) {}

  /** Whether the runner starts at the pixels (else at a hidden map a segment passes on). */
  get takesPixels(): boolean {
    return this.units[0]?.kind === 'stem';
  }

  /** Whether it ends at the embedding (else at the map after its last unit). */
  get givesEmbedding(): boolean {
    return this.units[this.units.length - 1]?.kind === 'head';
  }

  /**
   * Packs the units whose weights `w` holds (a whole int8 build's image initializers, or one segment's) into kernel
   * memory, in the tower's order.
   */
  static load(k: Kernels, w: Initializers, imageSize: number): ImageTowerRunner {
    const norm = (prefix: string) => packNorm(k, w, prefix);
    const linear = (name: string) => packLinear(k, w, name);
    const units: Unit[] = [];
    if (w.has('stem.weight')) {
      // The stem's 4×4 stride-4 convolution as an fp32 linear over (channel, kh, kw) patches.
      const [c0] = w.dims('stem.weight');
      const stemW = w.f32('stem.weight');
      const stemT = new Float32Array(48 * c0);
      for (let o = 0; o < c0; o++) for (let t = 0; t < 48; t++) stemT[t * c0 + o] = stemW[o * 48 + t];
      units.push({ kind: 'stem', weight: k.packFp32(stemT, 48, c0, w.f32('stem.bias')), norm: norm('stem.norm') });
    }
    // timm ConvNeXt has four stages; a segment holds any run of their downsamplings and blocks.
    for (let s = 0; s < 4; s++) {
      const st = `visual.trunk.stages.${s}`;
      if (w.has(`${st}.downsample.1.weight_q`) || w.has(`${st}.downsample.1.weight_t`))
        units.push({ kind: 'downsample', norm: norm(`${st}.downsample.0`), linear: linear(`${st}.downsample.1`) });
      for (let b = 0; b < 1000; b++) {
        const bl = `${st}.blocks.${b}`;
        if (!w.has(`${bl}.conv_dw.weight`)) continue;
        units.push({
          kind: 'block',
          block: {
            conv: k.packDepthwise(w.f32(`${bl}.conv_dw.weight`), w.f32(`${bl}.conv_dw.bias`)),
            norm: norm(`${bl}.norm`),
            fc1: linear(`${bl}.mlp.fc1`),
            fc2: linear(`${bl}.mlp.fc2`),
            gamma: k.put(w.f32(`${bl}.gamma`)),
          },
        });
      }
    }
    if (w.has('head.norm.weight'))
      units.push({ kind: 'head', norm: norm('head.norm'), fc1: linear('head.fc1'), fc2: linear('head.fc2') });
    if (units.length === 0) throw new Error('the initializers hold no unit of the image tower');
    return new ImageTowerRunner(k, imageSize, units);
  }

  /** The map after its last unit, for an input map `hidden` (none when it starts at the pixels). */
  outputMap(hidden?: MapSize): MapSize {
    const sizes = this.sizes(this.takesPixels ? { h: this.imageSize / 4, c: 0 } : (hidden ?? { h: 0, c: 0 }));
    return sizes[sizes.length - 1];
  }

  /** The map after each unit but the head, starting from `first` (the map this runner is given, or the stem's). */
  private sizes(first: MapSize): MapSize[] {
    let { h, c } = first;
    return this.units.map((u) => {
      if (u.kind === 'stem') ({ h, c } = { h: this.imageSize / 4, c: u.weight.n });
      if (u.kind === 'downsample') ({ h, c } = { h: h / 2, c: u.linear.n });
      return { h, c };
    });
  }

  /** What `steps` computes for one input, in one go. */
  run(input: Float32Array, hidden?: MapSize): Float32Array {
    const steps = this.steps(input, [], hidden);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The work of one input in steps: it pauses after each unit index in `cuts` (units counted from this runner's
   * first), so that a caller can take one scheduler turn per step. The input is the pixels [3, S, S] when the runner
   * starts at the stem, else the NHWC map `hidden` [h, h, c] a build segment passes on; the result is the embedding,
   * or the NHWC map after the last unit. Kernel memory is held until the generator finishes or is returned: one run
   * at a time per kernel instance.
   */
  *steps(input: Float32Array, cuts: readonly number[], hidden?: MapSize): Generator<void, Float32Array> {
    const { k, imageSize } = this;
    const x = k.x;
    const first = this.takesPixels ? { h: imageSize / 4, c: 0 } : hidden;
    if (!first) throw new RangeError('a runner that starts past the stem needs the size of its input map');
    const expected = this.takesPixels ? 3 * imageSize * imageSize : first.h * first.h * first.c;
    if (input.length !== expected) throw new RangeError(`the input has ${input.length} values, not ${expected}`);
    const sizes = this.sizes(first);
    const mark = x.mark();
    try {
      let { h, c } = first;
      let unit = 0;
      const pause = (): boolean => cuts.includes(++unit);
      // Three maps of the largest size this runner sees, reused by every unit (a downsampling's patches fit one: the
      // same values, rearranged); the stem's patches, quantized rows and MLP bands are released as soon as used.
      const largest = Math.max(first.h * first.h * first.c, ...sizes.map((m) => m.h * m.h * m.c)) * 4;
      const map = k.scratch(largest);
      const mixed = k.scratch(largest);
      const mlp = k.scratch(largest);
      if (!this.takesPixels) new Float32Array(x.memory.buffer, map, input.length).set(input);
      for (const u of this.units) {
        if (u.kind === 'stem') {
          const inner = x.mark();
          const patches = k.scratch(h * h * 48 * 4);
          x.stem_patches(k.put(input), imageSize, patches);
          c = u.weight.n;
          k.linearAt(u.weight, patches, h * h, map);
          x.release(inner);
          x.layer_norm(map, h * h, c, u.norm.gain, u.norm.bias, EPS);
        } else if (u.kind === 'downsample') {
          x.layer_norm(map, h * h, c, u.norm.gain, u.norm.bias, EPS);
          x.patchify2(map, h, c, mixed);
          h /= 2;
          c = u.linear.n;
          k.linearAt(u.linear, mixed, h * h, map);
        } else if (u.kind === 'block') {
          const b = u.block;
          x.depthwise7(map, h, h, c, b.conv.k, b.conv.bias, mixed);
          x.layer_norm(mixed, h * h, c, b.norm.gain, b.norm.bias, EPS);
          k.mlpAt(b.fc1, b.fc2, mixed, h * h, mlp);
          x.scale_add(map, mlp, b.gamma, h * h, c);
        } else {
          // timm's head: global average pool, LayerNorm, then OpenCLIP's MLP projection.
          const rows = k.output(map, h * h * c);
          const pooled = new Float32Array(c);
          for (let r = 0; r < h * h; r++) for (let j = 0; j < c; j++) pooled[j] += rows[r * c + j];
          for (let j = 0; j < c; j++) pooled[j] /= h * h;
          const v = k.put(pooled);
          x.layer_norm(v, 1, c, u.norm.gain, u.norm.bias, EPS);
          const hiddenRow = k.scratch(u.fc1.n * 4);
          k.linearAt(u.fc1, v, 1, hiddenRow);
          x.fast_gelu(hiddenRow, u.fc1.n);
          const out = k.scratch(u.fc2.n * 4);
          k.linearAt(u.fc2, hiddenRow, 1, out);
          return k.output(out, u.fc2.n);
        }
        if (pause()) yield;
      }
      return k.output(map, h * h * c);
    } finally {
      x.release(mark);
    }
  }
}
