/**
 * Activation statistics of every int8-able linear, for planning the int8 graph: the tower is built once more in fp32
 * with each linear's input exposed as an extra output (`Layers` in probe mode), run in onnxruntime-node on the
 * calibration inputs one at a time (so no padding rows count), and each input channel's largest magnitude is kept.
 * The same runs give the fp32 features of every calibration row, the reference the int8 tower is held to.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as OrtNode from 'onnxruntime-node';
import type { TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import type { ClipTokenizer } from '../../src/model/tokenizer.ts';
import type { ModelArch } from '../checkpoint/openclip-config.ts';
import { buildImageTower } from '../graphs/image-tower.ts';
import { Layers, type WeightSource } from '../graphs/layers.ts';
import { buildTextTower } from '../graphs/text-tower.ts';
import { ExternalDataWriter, joinShards } from '../onnx/external-data.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import type { Calibration } from './calibration.ts';
import { rowCosines } from './row-cosines.ts';

/** What calibration saw at one linear's input. */
export interface ChannelStats {
  /** Largest |x| per input channel over every calibration row. */
  absMax: Float32Array;
  /** Rows seen. */
  rows: number;
}

/** The linear a probe output (`probeName`) belongs to. */
const linearOf = (probe: string): string => probe.slice('probe:'.length, probe.lastIndexOf(':'));

function collect(stats: Map<string, ChannelStats>, linear: string, data: Float32Array, k: number): void {
  let s = stats.get(linear);
  if (!s) {
    s = { absMax: new Float32Array(k), rows: 0 };
    stats.set(linear, s);
  }
  const { absMax } = s;
  for (let row = 0; row < data.length; row += k)
    for (let j = 0; j < k; j++) {
      const v = Math.abs(data[row + j]);
      if (v > absMax[j]) absMax[j] = v;
    }
  s.rows += data.length / k;
}

export interface StatsJob {
  tower: TowerName;
  arch: ModelArch;
  read: WeightSource;
  /** A scratch folder for the probe graph's weights (removed afterwards). */
  scratch: string;
  calibration: Calibration;
  tokenizer: ClipTokenizer;
  imageSize: number;
}

export interface Calibrated {
  /** Input statistics by linear name. */
  stats: Map<string, ChannelStats>;
  /** fp32 features of every calibration row in order, [rows, embedDim]. */
  reference: Float32Array;
}

type Outputs = Record<string, OrtNode.Tensor>;

/**
 * Builds the fp32 tower in `scratch` (with probe outputs, or from other weights) and runs it over every calibration
 * row alone, handing each run's outputs to `take`.
 */
async function runFp32(job: StatsJob, read: WeightSource, probe: boolean, take: (o: Outputs) => void): Promise<void> {
  const { tower, arch, scratch, calibration } = job;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const ort = (await import('onnxruntime-node')) as typeof OrtNode;
  try {
    const weights = new ExternalDataWriter(scratch, `${tower}.probe`, Number.MAX_SAFE_INTEGER);
    const g = new GraphBuilder(`${tower}_probe`, weights);
    const layers = new Layers(g, 'fp32', { probe });
    if (tower === 'image') buildImageTower(layers, arch.vision, arch.embedDim, read);
    else buildTextTower(layers, arch.text, arch.embedDim, read);
    joinShards(scratch, weights.finish());
    const graph = join(scratch, `${tower}.probe.onnx`);
    writeFileSync(graph, g.encode());
    const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    try {
      if (tower === 'image') {
        const S = job.imageSize;
        const plane = 3 * S * S;
        for (let n = 0; n < calibration.imageCount; n++) {
          const x = calibration.images.slice(n * plane, (n + 1) * plane);
          take(await session.run({ [IMAGE_INPUT]: new ort.Tensor('float32', x, [1, 3, S, S]) }));
        }
      } else {
        for (const text of calibration.texts) {
          const ids = job.tokenizer.tokenize(text).ids;
          const data = BigInt64Array.from(ids.map(BigInt));
          take(await session.run({ [TEXT_INPUT]: new ort.Tensor('int64', data, [1, ids.length]) }));
        }
      }
    } finally {
      await session.release();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const concat = (parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, f) => n + f.length, 0));
  let offset = 0;
  for (const f of parts) {
    out.set(f, offset);
    offset += f.length;
  }
  return out;
};

/** Runs the probe graph over the calibration inputs: each linear's input statistics and the fp32 features. */
export async function collectActivationStats(job: StatsJob): Promise<Calibrated> {
  const stats = new Map<string, ChannelStats>();
  const features: Float32Array[] = [];
  await runFp32(job, job.read, true, (outputs) => {
    for (const [name, t] of Object.entries(outputs)) {
      const data = t.data as Float32Array;
      if (name.startsWith('probe:')) collect(stats, linearOf(name), data, t.dims[t.dims.length - 1]);
      else features.push(data);
    }
  });
  return { stats, reference: concat(features) };
}

/** Relative noise the conditioning check puts on every weight. */
export const CONDITIONING_NOISE = 1e-3;

/**
 * How far each calibration row's fp32 features move when every weight gets CONDITIONING_NOISE relative noise (seeded):
 * 1 − cosine with the reference, per row. A row that moves far is ill-conditioned in fp32 itself (near-ties in
 * attention): no quantization can be held to it.
 */
export async function fp32Conditioning(job: StatsJob, { reference }: Calibrated, embedDim: number): Promise<number[]> {
  let seed = 0x1234567;
  const normal = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = (seed + 1) / 2 ** 32;
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * seed) / 2 ** 32);
  };
  const noisy: WeightSource = (name) => job.read(name).map((v) => v * (1 + CONDITIONING_NOISE * normal()));
  const features: Float32Array[] = [];
  await runFp32(job, noisy, false, (outputs) => features.push(Object.values(outputs)[0].data as Float32Array));
  return rowCosines(concat(features), reference, embedDim).map((c) => 1 - c);
}
