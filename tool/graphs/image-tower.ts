/** The ConvNeXt image tower (timm layout) + OpenCLIP's MLP projection head as an ONNX graph. */

import { IMAGE_INPUT, IMAGE_OUTPUT } from '../../src/contracts/tensors.ts';
import type { VisionArch } from '../checkpoint/openclip-config.ts';
import { hiddenName, type Layers, type WeightSource } from './layers.ts';

/** timm ConvNeXt uses LayerNorm eps 1e-6 everywhere (the text tower uses 1e-5). */
const EPS = 1e-6;

const NCHW_TO_NHWC = { perm: { ints: [0, 2, 3, 1] } };
const NHWC_TO_NCHW = { perm: { ints: [0, 3, 1, 2] } };

/**
 * conv 2×2 stride 2 as a patchify + linear on NHWC input, so that it can be int8 like every other linear.
 * Weight [Co,Ci,2,2] becomes [Co, (kh,kw,ci)] matching the patch layout.
 */
function downsample(l: Layers, x: string, name: string, w: WeightSource, ci: number, co: number, h: number): string {
  const { g } = l;
  const conv = w(`${name}.weight`);
  const flat = new Float32Array(co * 4 * ci);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let kh = 0; kh < 2; kh++)
        for (let kw = 0; kw < 2; kw++)
          flat[o * 4 * ci + (kh * 2 + kw) * ci + i] = conv[((o * ci + i) * 2 + kh) * 2 + kw];
  const half = h / 2;
  let y = g.op1('Reshape', [x, g.i64([0, half, 2, half, 2, ci])]);
  y = g.op1('Transpose', [y], { perm: { ints: [0, 1, 3, 2, 4, 5] } });
  y = g.op1('Reshape', [y, g.i64([0, half, half, 4 * ci])]);
  return l.linear(y, name, { weight: flat, bias: w(`${name}.bias`), out: co, in: 4 * ci });
}

/**
 * Positions per MLP band: the 4C-wide hidden of a whole early-stage map is the largest activation of the tower (80² ×
 * 768 floats = 19.7 MB in stage 0, several alive at once), so maps larger than this run their MLP in horizontal bands
 * one after another (onnxruntime executes each band's nodes before the next band's, in node order), which bounds a
 * segment's activation memory. The MLP is per position, so the result is the same.
 */
const MLP_BAND_POSITIONS = 1600;

export function bandedMlp(
  l: Layers,
  y: string,
  h: number,
  mlp: (part: string) => string,
  maxPositions = MLP_BAND_POSITIONS,
): string {
  const bands = Math.ceil((h * h) / maxPositions);
  if (bands === 1 || h % bands !== 0) return mlp(y);
  const { g } = l;
  const rows = g.i64(new Array(bands).fill(h / bands));
  const parts = g.op('Split', [y, rows], { axis: { i: 1 } }, { outputs: bands });
  return g.op1(
    'Concat',
    parts.map((p) => mlp(p)),
    { axis: { i: 1 } },
  );
}

/** One step of the image tower; segments are consecutive runs of units. */
export interface ImageUnit {
  /** State-dict prefixes of its weights (for segment planning). */
  prefixes: string[];
  /** Feature map after the unit: side length and channels (the head ends with the embedding). */
  h: number;
  c: number;
}

/** The tower as units: stem, then per stage an optional downsample and each block, then the head. */
export function imageUnits(arch: VisionArch): ImageUnit[] {
  const { dims, depths, imageSize } = arch;
  let h = imageSize / 4;
  const units: ImageUnit[] = [{ prefixes: ['visual.trunk.stem.'], h, c: dims[0] }];
  for (let s = 0; s < 4; s++) {
    if (s > 0) {
      h /= 2;
      units.push({ prefixes: [`visual.trunk.stages.${s}.downsample.`], h, c: dims[s] });
    }
    for (let b = 0; b < depths[s]; b++)
      units.push({ prefixes: [`visual.trunk.stages.${s}.blocks.${b}.`], h, c: dims[s] });
  }
  units.push({ prefixes: ['visual.trunk.head.', 'visual.head.'], h: 1, c: 0 });
  return units;
}

/**
 * Emits units [from, to) of the image tower. The first segment takes pixels; later ones take the NHWC residual stream
 * `hidden_<from>` [batch, h, h, C]; the last one outputs the image embedding, the others `hidden_<to>`.
 */
export function buildImageTower(
  l: Layers,
  arch: VisionArch,
  embedDim: number,
  w: WeightSource,
  range?: [number, number],
): void {
  const { g } = l;
  const { dims, depths, imageSize } = arch;
  const units = imageUnits(arch);
  const [from, to] = range ?? [0, units.length];
  const norm = (prefix: string) => ({ gain: w(`${prefix}.weight`), bias: w(`${prefix}.bias`) });
  let x =
    from === 0
      ? g.input({ name: IMAGE_INPUT, dtype: 'float32', dims: ['batch', 3, imageSize, imageSize] })
      : g.input({
          name: hiddenName(from),
          dtype: 'float32',
          dims: ['batch', units[from - 1].h, units[from - 1].h, units[from - 1].c],
        });
  let k = 0;
  const emit = (fn: () => void) => {
    if (k >= from && k < to) fn();
    k++;
  };
  emit(() => {
    x = g.op1(
      'Conv',
      [
        x,
        g.f32('stem.weight', [dims[0], 3, 4, 4], w('visual.trunk.stem.0.weight')),
        g.f32('stem.bias', [dims[0]], w('visual.trunk.stem.0.bias')),
      ],
      { kernel_shape: { ints: [4, 4] }, strides: { ints: [4, 4] } },
    );
    // Residual stream in NHWC between blocks; each block visits NCHW only for the depthwise conv.
    x = l.layerNorm(g.op1('Transpose', [x], NCHW_TO_NHWC), 'stem.norm', norm('visual.trunk.stem.1'), EPS);
  });
  let h = imageSize / 4;
  for (let s = 0; s < 4; s++) {
    const st = `visual.trunk.stages.${s}`;
    const C = dims[s];
    if (s > 0) {
      const hIn = h;
      emit(() => {
        x = l.layerNorm(x, `${st}.downsample.0`, norm(`${st}.downsample.0`), EPS);
        x = downsample(l, x, `${st}.downsample.1`, w, dims[s - 1], C, hIn);
      });
      h /= 2;
    }
    for (let b = 0; b < depths[s]; b++) {
      const bl = `${st}.blocks.${b}`;
      emit(() => {
        let y = g.op1('Transpose', [x], NHWC_TO_NCHW);
        y = g.op1(
          'Conv',
          [
            y,
            g.f32(`${bl}.conv_dw.weight`, [C, 1, 7, 7], w(`${bl}.conv_dw.weight`)),
            g.f32(`${bl}.conv_dw.bias`, [C], w(`${bl}.conv_dw.bias`)),
          ],
          { kernel_shape: { ints: [7, 7] }, pads: { ints: [3, 3, 3, 3] }, group: { i: C } },
        );
        const fc1 = { weight: w(`${bl}.mlp.fc1.weight`), bias: w(`${bl}.mlp.fc1.bias`), out: 4 * C, in: C };
        const fc2 = { weight: w(`${bl}.mlp.fc2.weight`), bias: w(`${bl}.mlp.fc2.bias`), out: C, in: 4 * C };
        y = l.layerNorm(g.op1('Transpose', [y], NCHW_TO_NHWC), `${bl}.norm`, norm(`${bl}.norm`), EPS, {
          linear: `${bl}.mlp.fc1`,
          w: fc1,
        });
        const mlp = (part: string) => l.linear(l.gelu(l.linear(part, `${bl}.mlp.fc1`, fc1)), `${bl}.mlp.fc2`, fc2);
        y = bandedMlp(l, y, h, mlp);
        y = g.op1('Mul', [y, g.f32(`${bl}.gamma`, [C], w(`${bl}.gamma`))]);
        x = g.op1('Add', [x, y]);
      });
    }
  }
  emit(() => {
    // timm head with pool "" : global average pool, then LayerNorm (after the pool, not before).
    x = g.op1('ReduceMean', [x], { axes: { ints: [1, 2] }, keepdims: { i: 0 } });
    const fc1 = {
      weight: w('visual.head.mlp.fc1.weight'),
      bias: w('visual.head.mlp.fc1.bias'),
      out: 2 * embedDim,
      in: dims[3],
    };
    const fc2 = { weight: w('visual.head.mlp.fc2.weight'), out: embedDim, in: 2 * embedDim };
    x = l.layerNorm(x, 'head.norm', norm('visual.trunk.head.norm'), EPS, { linear: 'head.fc1', w: fc1 });
    x = l.linear(l.gelu(l.linear(x, 'head.fc1', fc1)), 'head.fc2', fc2);
  });
  if (to === units.length) g.output({ name: IMAGE_OUTPUT, dtype: 'float32', dims: ['batch', embedDim] }, x);
  else
    g.output(
      { name: hiddenName(to), dtype: 'float32', dims: ['batch', units[to - 1].h, units[to - 1].h, units[to - 1].c] },
      x,
    );
}
