/**
 * Random weights in OpenCLIP's state-dict layout, for benchmarks and tests of the real shapes. The recipe follows the
 * conformance fixture: weights N(0, 1/fan_in), biases 0.1·N, LayerNorm 1+0.1·N / 0.1·N, gamma U[0.1,1]; the
 * embeddings (std 0.01) and the stem, depthwise and text out_proj / c_proj layers (weights 0.01·N(0, 1/fan_in),
 * biases 0.005·N) are small so that LayerNorm eps matters as it does with trained weights. Optional channel outliers
 * (`outliers.ts`) imitate what trained weights carry.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { numel } from '../checkpoint/checkpoint.ts';
import { CONFIG_FILE, SAFETENSORS_FILE } from '../checkpoint/load-checkpoint.ts';
import { type OpenClipConfigFile, parseArch, stateDictSpec } from '../checkpoint/openclip-config.ts';
import { Progress } from '../cli/progress.ts';
import { type OutlierSpec, outlierEdits } from './outliers.ts';

/** xoshiro128** with Box–Muller normals: fast, seedable, the same on every machine. */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | undefined;
  constructor(seed: number) {
    let x = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (x ^ (x >>> 16)) + i;
    }
  }
  uniform(): number {
    const s = this.s;
    const r = Math.imul(((Math.imul(s[1], 5) << 7) | (Math.imul(s[1], 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return (r + 0.5) / 4294967296;
  }
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

type Init =
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'uniform'; lo: number; hi: number }
  | { kind: 'const'; value: number };

const SMALL_LAYER = /(stem\.0|conv_dw|attn\.out_proj|mlp\.c_proj)\.(weight|bias)$/;

const fanIn = (shape: number[]) => shape.slice(1).reduce((a, b) => a * b, 1);

function initFor(name: string, shape: number[]): Init {
  const isNorm = /(\.norm|ln_\d|ln_final|stem\.1|downsample\.0)\./.test(name);
  if (name === 'logit_scale') return { kind: 'const', value: Math.log(100) };
  if (name.endsWith('.gamma')) return { kind: 'uniform', lo: 0.1, hi: 1 };
  if (isNorm)
    return name.endsWith('weight') ? { kind: 'normal', mean: 1, std: 0.1 } : { kind: 'normal', mean: 0, std: 0.1 };
  if (name === 'token_embedding.weight' || name === 'positional_embedding')
    return { kind: 'normal', mean: 0, std: 0.01 };
  if (SMALL_LAYER.test(name)) {
    if (name.endsWith('bias')) return { kind: 'normal', mean: 0, std: 0.005 };
    return { kind: 'normal', mean: 0, std: 0.01 / Math.sqrt(fanIn(shape)) };
  }
  if (name.endsWith('bias')) return { kind: 'normal', mean: 0, std: 0.1 };
  if (name === 'text_projection') return { kind: 'normal', mean: 0, std: 1 / Math.sqrt(shape[0]) };
  return { kind: 'normal', mean: 0, std: 1 / Math.sqrt(fanIn(shape)) };
}

export async function writeSynthCheckpoint(
  config: OpenClipConfigFile,
  seed: number,
  out: string,
  log: (l: string) => void,
  outliers?: OutlierSpec,
) {
  const arch = parseArch(config, CONFIG_FILE);
  const spec = stateDictSpec(arch);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', edge_clip: `random weights, seed ${seed}` } };
  let offset = 0;
  for (const [name, shape] of spec) {
    const bytes = numel(shape) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const fd = openSync(join(tmp, SAFETENSORS_FILE), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, json);
    const rng = new Rng(seed);
    // Outliers draw from their own stream, so the base weights of a seed are the same with and without them.
    const outlierRng = new Rng(seed ^ 0x5bd1e995);
    const edits = outliers ? outlierEdits(arch, outliers, () => outlierRng.uniform()) : new Map();
    const vectors = new Map<string, Float32Array>();
    const progress = new Progress('synth', offset);
    let done = 0;
    for (const [name, shape] of spec) {
      const data = new Float32Array(numel(shape));
      const init = initFor(name, shape);
      for (let i = 0; i < data.length; i++) {
        data[i] =
          init.kind === 'normal'
            ? init.mean + init.std * rng.normal()
            : init.kind === 'uniform'
              ? init.lo + (init.hi - init.lo) * rng.uniform()
              : init.value;
      }
      for (const edit of edits.get(name) ?? []) edit(data, (n: string) => vectors.get(n)!);
      if (shape.length === 1) vectors.set(name, data);
      writeSync(fd, new Uint8Array(data.buffer));
      done += data.byteLength;
      progress.update(done);
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  closeSync(fd);
  // The marker lets builds label themselves as random-weight builds (/v1/models, X-Model-Weights).
  writeFileSync(
    join(tmp, CONFIG_FILE),
    `${JSON.stringify({ ...config, edge_clip: { weights: 'random', seed, ...(outliers && { outliers }) } }, null, 2)}\n`,
  );
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  log(`wrote ${spec.length} tensors (${(offset / 2 ** 20).toFixed(1)} MiB) to ${out}`);
  return { out, tensors: spec.length, bytes: offset, seed };
}
