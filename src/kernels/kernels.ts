/**
 * Our own wasm kernels (kernels.c, compiled to .wasm by `npm run build:kernels`), beside onnxruntime-web: int8 linears
 * and MLPs with the int8 graphs' arithmetic (per-row u8 activations, 7-bit per-column weights, int32 sums, FastGelu),
 * a GEMM blocked for SIMD128 and, where the CPU pays for it, relaxed SIMD; and the depthwise 7×7 convolution on NHWC
 * maps. The module has its own wasm memory: weights are packed into it once; activations are copied in and out per
 * call.
 */

export type KernelVariant = 'plain' | 'relaxed';

/**
 * Rows per tile of the plain GEMM: 5 needs fewer loads per product, which pays where every load carries a bounds check
 * (workerd), and spills registers in Node 20's V8; `pickKernels` times both. Below 16 rows both are the 4-row kernel.
 */
export type PlainTile = 4 | 5;

/** The compiled kernel builds a runtime has: plain SIMD128 always, relaxed SIMD where the engine validates it. */
export interface KernelModules {
  plain: WebAssembly.Module;
  relaxed?: WebAssembly.Module;
}

/** What both GEMMs take after their quantized rows: row scales, shape, packed weights, scales, bias, output. */
type GemmArgs = [xs: number, m: number, k: number, packed: number, wScale: number, bias: number, n: number, y: number];

/** The kernel module's exports (pointers are byte offsets into its memory). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  mark(): number;
  release(to: number): void;
  quantize_rows(
    x: number,
    inScale: number,
    m: number,
    k: number,
    q16: number,
    q8: number,
    sums: number,
    xs: number,
  ): void;
  fast_gelu(x: number, n: number): void;
  depthwise7(x: number, h: number, w: number, c: number, k: number, bias: number, y: number): void;
  layer_norm(x: number, m: number, c: number, gain: number, bias: number, eps: number): void;
  scale_add(x: number, y: number, gamma: number, m: number, c: number): void;
  attention(qkv: number, rows: number, width: number, heads: number, out: number, p: number): void;
  fp32_linear(x: number, m: number, k: number, w: number, bias: number, n: number, y: number): void;
  side_channels(
    x: number,
    m: number,
    k: number,
    idx: number,
    count: number,
    w: number,
    bias: number,
    n: number,
    y: number,
  ): void;
  patchify2(x: number, h: number, c: number, out: number): void;
  stem_patches(x: number, s: number, out: number): void;
  pack_plain(w: number, k: number, n: number, out: number): void;
  pack_relaxed(w: number, k: number, n: number, out: number): void;
  gemm_plain(q16: number, ...common: GemmArgs): void;
  /** Absent from builds before the 5-row tile (benches may load one). */
  gemm_plain5?(q16: number, ...common: GemmArgs): void;
  gemm_relaxed?(q8: number, sums: number, ...common: GemmArgs): void;
}

/** A depthwise 7×7 convolution's weights in kernel memory, repacked [7, 7, c], and its bias. */
export interface PackedDepthwise {
  readonly c: number;
  readonly k: number;
  readonly bias: number;
}

/**
 * One linear's weights in kernel memory: [k, n] int8 (the graphs' `weight_q`), its column scales, bias and input
 * scale; or, for a linear the int8 plan kept in fp32, its [k, n] float weights.
 */
export interface PackedLinear {
  readonly k: number;
  readonly n: number;
  readonly variant: KernelVariant;
  readonly packed: number;
  readonly wScale: number;
  readonly bias: number;
  readonly inScale: number;
  /** Outlier input channels kept in fp32 (int32 indices) and their weight rows [count, n]. */
  readonly side?: { idx: number; count: number; weight: number };
  /** The [k, n] float weights of a linear the plan kept wholly in fp32 (then `packed` is 0). */
  readonly fp32?: number;
}

/** What a linear may carry besides its int8 weights. */
export interface LinearExtras {
  bias?: Float32Array;
  inScale?: Float32Array;
  /** Input channels kept in fp32 and their weight rows [channels, n]. */
  side?: { channels: ArrayLike<number>; weight: Float32Array };
}

export class Kernels {
  private constructor(
    /** The raw exports, for runners that keep activations in kernel memory between calls. */
    readonly x: KernelExports,
    readonly variant: KernelVariant,
    readonly plainTile: PlainTile,
  ) {}

  /** A kernel instance of `module`; `relaxed` only when the module has the relaxed GEMM. */
  static async create(
    module: WebAssembly.Module,
    variant: KernelVariant = 'plain',
    plainTile: PlainTile = 4,
  ): Promise<Kernels> {
    const instance = await WebAssembly.instantiate(module, {});
    const x = instance.exports as unknown as KernelExports;
    if (variant === 'relaxed' && !x.gemm_relaxed) throw new Error('this kernel module has no relaxed-SIMD GEMM');
    return new Kernels(x, variant, 4).withPlainTile(plainTile);
  }

  /** These kernels (the same instance, memory and packed weights) with the plain GEMM in tiles of `rows` rows. */
  withPlainTile(rows: PlainTile): Kernels {
    if (rows === 5 && !this.x.gemm_plain5) throw new Error('this kernel module has no 5-row plain GEMM');
    return new Kernels(this.x, this.variant, rows);
  }

  /** Bytes of the module's wasm memory (it counts against the isolate's budget beside onnxruntime's). */
  get memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  /** Copies `data` into kernel memory (0 for none). */
  put(data: ArrayBufferView | undefined): number {
    if (!data) return 0;
    const ptr = this.x.alloc(data.byteLength);
    if (!ptr) throw new RangeError(`kernel memory cannot grow by ${data.byteLength} bytes`);
    new Uint8Array(this.x.memory.buffer, ptr, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    return ptr;
  }

  /** Packs a [k, n] int8 weight (7-bit values) with its per-column scales and what else the linear carries. */
  pack(weight: Int8Array, k: number, n: number, wScale: Float32Array, extras: LinearExtras = {}): PackedLinear {
    const { bias, inScale, side } = extras;
    if (k % 4 !== 0 || n % 8 !== 0) throw new RangeError(`kernel linears need k % 4 = 0 and n % 8 = 0, not ${k}×${n}`);
    if (
      weight.length !== k * n ||
      wScale.length !== n ||
      (bias && bias.length !== n) ||
      (inScale && inScale.length !== k) ||
      (side && side.weight.length !== side.channels.length * n)
    )
      throw new RangeError('weight, scale, bias, input scale or side channels do not match the linear’s shape');
    // The relaxed dot takes weights + 64 as its 7-bit operand: outside [-64, 63] the result would be silently wrong.
    if (this.variant === 'relaxed')
      for (let i = 0; i < weight.length; i++)
        if (weight[i] < -64 || weight[i] > 63)
          throw new RangeError(`weight ${weight[i]} is outside the relaxed GEMM’s [-64, 63]`);
    const raw = this.put(weight);
    const packed = this.scratch(k * n);
    if (this.variant === 'relaxed') this.x.pack_relaxed(raw, k, n, packed);
    else this.x.pack_plain(raw, k, n, packed);
    // The unpacked copy goes: the packed weights move down over it.
    new Uint8Array(this.x.memory.buffer).copyWithin(raw, packed, packed + k * n);
    this.x.release(raw + k * n);
    return {
      k,
      n,
      variant: this.variant,
      packed: raw,
      wScale: this.put(wScale),
      bias: this.put(bias),
      inScale: this.put(inScale),
      side: side && {
        idx: this.put(Int32Array.from(side.channels)),
        count: side.channels.length,
        weight: this.put(side.weight),
      },
    };
  }

  /** A linear kept wholly in fp32: [k, n] float weights (the graphs' `weight_t`) and its bias. */
  packFp32(weight: Float32Array, k: number, n: number, bias?: Float32Array): PackedLinear {
    if (n % 4 !== 0 || weight.length !== k * n) throw new RangeError(`an fp32 linear needs n % 4 = 0, not ${k}×${n}`);
    const fp32 = this.put(weight);
    return { k, n, variant: this.variant, packed: 0, wScale: 0, bias: this.put(bias), inScale: 0, fp32 };
  }

  /** Packs a depthwise 7×7 convolution's [c, 1, 7, 7] weights (ONNX layout) and its bias. */
  packDepthwise(weight: Float32Array, bias: Float32Array): PackedDepthwise {
    const c = bias.length;
    if (c % 4 !== 0 || weight.length !== c * 49)
      throw new RangeError(`a depthwise 7×7 needs c % 4 = 0 and c × 49 weights`);
    const k = new Float32Array(49 * c);
    for (let ch = 0; ch < c; ch++) for (let t = 0; t < 49; t++) k[t * c + ch] = weight[ch * 49 + t];
    return { c, k: this.put(k), bias: this.put(bias) };
  }

  /** The depthwise 7×7 convolution (stride 1, padding 3) of an NHWC map x [h, w, c]. */
  depthwise(conv: PackedDepthwise, x: Float32Array, h: number, w: number, into?: Float32Array): Float32Array {
    if (x.length !== h * w * conv.c) throw new RangeError(`input has ${x.length} values, not ${h}×${w}×${conv.c}`);
    const mark = this.x.mark();
    try {
      const xp = this.put(x);
      const yp = this.scratch(x.length * 4);
      this.x.depthwise7(xp, h, w, conv.c, conv.k, conv.bias, yp);
      return this.output(yp, x.length, into);
    } finally {
      this.x.release(mark);
    }
  }

  /** Kernel memory for `bytes` (released with the allocator's mark). */
  scratch(bytes: number): number {
    const ptr = this.x.alloc(bytes);
    if (!ptr) throw new RangeError(`kernel memory cannot grow by ${bytes} bytes`);
    return ptr;
  }

  /** The linear of the m rows at `xp` into `yp` (both in kernel memory); its scratch is released by the caller. */
  linearAt(linear: PackedLinear, xp: number, m: number, yp: number): void {
    if (linear.variant !== this.variant) throw new Error('the linear was packed for another kernel variant');
    const { k, n, side } = linear;
    if (linear.fp32) {
      this.x.fp32_linear(xp, m, k, linear.fp32, linear.bias, n, yp);
      return;
    }
    const relaxed = this.variant === 'relaxed';
    // The quantized rows live only for this call: the output belongs to the caller.
    const mark = this.x.mark();
    const q16 = this.scratch(m * k * 2);
    const q8 = relaxed ? this.scratch(m * k) : 0;
    const sums = relaxed ? this.scratch(m * 4) : 0;
    const xs = this.scratch(m * 4);
    this.x.quantize_rows(xp, linear.inScale, m, k, q16, q8, sums, xs);
    // With fp32 side channels the graphs add them before the bias.
    const bias = side ? 0 : linear.bias;
    const plainGemm = (this.plainTile === 5 && this.x.gemm_plain5) || this.x.gemm_plain;
    if (relaxed) this.x.gemm_relaxed?.(q8, sums, xs, m, k, linear.packed, linear.wScale, bias, n, yp);
    else plainGemm(q16, xs, m, k, linear.packed, linear.wScale, bias, n, yp);
    if (side) this.x.side_channels(xp, m, k, side.idx, side.count, side.weight, linear.bias, n, yp);
    this.x.release(mark);
  }

  /** fc2(FastGelu(fc1(x))) of the m rows at `xp` into `yp`, in bands of `band` rows (kernel memory). */
  mlpAt(fc1: PackedLinear, fc2: PackedLinear, xp: number, m: number, yp: number, band = 256): void {
    if (fc1.n !== fc2.k) throw new RangeError(`fc1 gives ${fc1.n} values a row, fc2 takes ${fc2.k}`);
    const mark = this.x.mark();
    const rows = Math.max(1, Math.min(m, band));
    const hidden = this.scratch(rows * fc1.n * 4);
    for (let r = 0; r < m; r += rows) {
      const b = Math.min(rows, m - r);
      const inner = this.x.mark();
      this.linearAt(fc1, xp + r * fc1.k * 4, b, hidden);
      this.x.fast_gelu(hidden, b * fc1.n);
      this.linearAt(fc2, hidden, b, yp + r * fc2.n * 4);
      this.x.release(inner);
    }
    this.x.release(mark);
  }

  /** Float32 values at `ptr` (a copy, or into `into`). */
  output(yp: number, length: number, into?: Float32Array): Float32Array {
    const out = into ?? new Float32Array(length);
    out.set(new Float32Array(this.x.memory.buffer, yp, length));
    return out;
  }

  /** y[m, n] = the linear of x[m, k]; `into` receives it when given (m × n floats). */
  run(linear: PackedLinear, x: Float32Array, m: number, into?: Float32Array): Float32Array {
    if (x.length !== m * linear.k) throw new RangeError(`input has ${x.length} values, not ${m}×${linear.k}`);
    const mark = this.x.mark();
    try {
      const xp = this.put(x);
      const yp = this.scratch(m * linear.n * 4);
      this.linearAt(linear, xp, m, yp);
      return this.output(yp, m * linear.n, into);
    } finally {
      this.x.release(mark);
    }
  }

  /**
   * A ConvNeXt or transformer MLP, fc2(FastGelu(fc1(x))), as the int8 graphs compute it, in bands of `band` rows:
   * the 4×-wide hidden activation exists one band at a time and never leaves kernel memory.
   */
  mlp(fc1: PackedLinear, fc2: PackedLinear, x: Float32Array, m: number, into?: Float32Array, band = 256): Float32Array {
    if (x.length !== m * fc1.k) throw new RangeError(`input has ${x.length} values, not ${m}×${fc1.k}`);
    const mark = this.x.mark();
    try {
      const xp = this.put(x);
      const yp = this.scratch(m * fc2.n * 4);
      this.mlpAt(fc1, fc2, xp, m, yp, band);
      return this.output(yp, m * fc2.n, into);
    } finally {
      this.x.release(mark);
    }
  }
}

/** How much faster the relaxed GEMM must run on the probe to be chosen. */
const RELAXED_PAYS = 1.3;

/**
 * How much slower than the 4-row tile the 5-row one may run on the probe and still be chosen. It gains 3–5 % in
 * workerd, below what the probe resolves there (the clock moves in 1 ms steps over groups of ~18 ms); an engine that
 * spills it runs it far slower (Node 20: ~1.9×).
 */
const FIVE_ROWS_WITHIN = 1.1;

export interface PickedKernels {
  kernels: Kernels;
  /**
   * ms per probe linear (64 × 768 × 768) of each GEMM: the plain one in tiles of 4 and of 5 rows, and the relaxed one
   * (absent where the runtime has no relaxed build).
   */
  plainMs: number;
  plain5Ms: number;
  relaxedMs?: number;
}

/**
 * The kernels this runtime should use, decided at start-up: the plain GEMM in tiles of 5 rows unless the probe finds
 * them clearly slower than tiles of 4 (FIVE_ROWS_WITHIN), then the relaxed GEMM when it runs the probe linear at least
 * RELAXED_PAYS× faster than the faster plain tile (V8 emits one VNNI instruction for the relaxed dot
 * only on x86 with AVX-VNNI; elsewhere it is a sequence at plain speed, docs/PERFORMANCE.md), else the plain build.
 * ~0.15 s once. Timed across timer turns: workerd's clock stands still inside synchronous code.
 */
export async function pickKernels(modules: KernelModules, pays = RELAXED_PAYS): Promise<PickedKernels> {
  const four = await Kernels.create(modules.plain);
  const five = four.withPlainTile(5);
  const relaxed = modules.relaxed && (await Kernels.create(modules.relaxed, 'relaxed'));
  const [plainMs, plain5Ms, relaxedMs] = await probe(relaxed ? [four, five, relaxed] : [four, five]);
  const plain = plain5Ms <= plainMs * FIVE_ROWS_WITHIN ? five : four;
  if (!relaxed) return { kernels: plain, plainMs, plain5Ms };
  return { kernels: relaxedMs * pays <= Math.min(plainMs, plain5Ms) ? relaxed : plain, plainMs, plain5Ms, relaxedMs };
}

/**
 * ms per run of one probe linear (64 × 768 × 768) with each of `candidates`: the fastest of three groups of 20 runs,
 * the groups alternated between the candidates so that a slow phase of the machine falls on all of them (the first
 * group also tiers each GEMM up).
 */
async function probe(candidates: Kernels[]): Promise<number[]> {
  const [m, n] = [64, 768];
  // Candidates that share an instance (two tiles of one build) share its packed weights and buffers.
  const marks = new Map<KernelExports, number>();
  const setups: { linear: PackedLinear; x: number; y: number }[] = [];
  const tick = () => new Promise((r) => setTimeout(r, 0));
  try {
    for (const [j, k] of candidates.entries()) {
      const shared = candidates.findIndex((c) => c.x === k.x);
      if (shared < j) {
        setups.push(setups[shared]);
        continue;
      }
      marks.set(k.x, k.x.mark());
      const linear = k.pack(
        Int8Array.from({ length: n * n }, (_, i) => ((i * 37) % 127) - 63),
        n,
        n,
        new Float32Array(n).fill(0.01),
      );
      const x = k.put(Float32Array.from({ length: m * n }, (_, i) => Math.sin(i)));
      setups.push({ linear, x, y: k.scratch(m * n * 4) });
    }
    const best = candidates.map(() => Number.POSITIVE_INFINITY);
    for (let group = 0; group < 3; group++)
      for (const [j, k] of candidates.entries()) {
        const { linear, x, y } = setups[j];
        await tick();
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) k.linearAt(linear, x, m, y);
        await tick();
        best[j] = Math.min(best[j], (performance.now() - t0) / 20);
      }
    return best;
  } finally {
    for (const [x, mark] of marks) x.release(mark);
  }
}
