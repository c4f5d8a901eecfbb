/** The manifest: the single, versioned description of one model build (what the build tool writes, what loaders read). */
import { EdgeClipError } from './errors.ts';
import type { TensorSpec } from './tensors.ts';

export const MANIFEST_SCHEMA = 'edge-clip.manifest/v1';
export const MANIFEST_FILE = 'manifest.json';

export const PRECISIONS = ['fp32', 'int8'] as const;

/**
 * Budget of `build --segmented`: what a segment Worker may spend as the build measures it, 10 % under the 110 MiB a
 * segment may use of a 128 MB isolate, because workerd's allocations (another request, fragmentation) can land one
 * wasm growth step above this measurement.
 */
export const DEFAULT_SEGMENT_BUDGET_MIB = 100;
export type Precision = (typeof PRECISIONS)[number];
export const TOWERS = ['image', 'text'] as const;
export type TowerName = (typeof TOWERS)[number];

/** A file of the build, relative to the build folder (and to the R2 prefix of the model). */
export interface FileRef {
  file: string;
  bytes: number;
  sha256: string;
}

/** One shard: a byte range [offset, offset+bytes) of an external-data file, stored as its own object. */
export interface ShardRef extends FileRef {
  offset: number;
}

/** An ONNX external-data file as the graph names it (`location`), split into shards of bounded size. */
export interface ExternalDataFile {
  location: string;
  bytes: number;
  shards: ShardRef[];
}

/**
 * A segment's memory as measured in onnxruntime-web (one wasm instance, one thread, runs at `batch` rows and the full
 * context length), in bytes. A segment Worker reports the same quantities live at GET /stats.
 */
export interface SegmentMemory {
  /** JS bytes held while the session is created: the graph and every external-data file. */
  jsLoadBytes: number;
  /** wasm linear memory right after session creation (it never shrinks: the peak while loading). */
  wasmAfterCreateBytes: number;
  /** wasm linear memory after the runs. */
  wasmAfterRunBytes: number;
  /** JS bytes of one request in flight: the body in, the outputs, the body out. */
  jsRequestBytes: number;
  /** Rows per run it was measured with: the gateway sends a segment no more (it splits larger batches). */
  batch: number;
}

/** wasm + JS buffers while serving (the segment budget bounds this): wasm never shrinks, requests come and go. */
export const segmentServingBytes = (m: SegmentMemory): number => m.wasmAfterRunBytes + m.jsRequestBytes;

/** wasm + JS buffers while the session is created; the JS copies of the files are released afterwards. */
export const segmentLoadingBytes = (m: SegmentMemory): number => m.jsLoadBytes + m.wasmAfterCreateBytes;

/** A consecutive piece of a tower's graph; an unsegmented tower has exactly one. */
export interface Segment {
  index: number;
  graph: FileRef;
  externalData: ExternalDataFile[];
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Present when the build measured it (builds with a segment budget). */
  memory?: SegmentMemory;
}

/**
 * How far an int8 tower's outputs are from fp32's, measured by the build on its calibration inputs (cosine of each
 * output row with the fp32 row, in onnxruntime-node).
 */
export interface Int8Drift {
  rows: number;
  minCos: number;
  meanCos: number;
  /** "built-in" or the --calibration path. */
  calibration: string;
  /**
   * Calibration rows left out of `rows`: fp32 itself is ill-conditioned on them (its features move by more than a
   * tenth of the gate's allowance when every weight gets 0.1 % noise), so no quantization can be held to them.
   */
  illConditioned?: number;
}

/**
 * How an int8 tower spends precision (tool/quantize/): input channels that calibration showed to be outliers run in
 * fp32 beside the int8 product, and where the tower still missed its target the accuracy search gave the linears that
 * cost most more fp32 channels or fp32 whole.
 */
export interface Int8Plan {
  /** int8-planned linears of the tower. */
  linears: number;
  /** fp32 input channels in all, and the linears that have any. */
  fp32Channels: number;
  channelLinears: number;
  /** Linears computed in fp32 whole. */
  fp32Linears: string[];
  /** The cosine the search aimed for on every calibration row (closer to 1 than the gate: twice as close, ten times with a heavy tail). */
  searchTarget: number;
  searchRounds: number;
  /** Weight bytes the search added to the plain plan. */
  spentBytes: number;
  /** Time of the calibration runs with what the search spent over without it (onnxruntime-node, one thread). */
  timeRatio: number;
  /** What the search gave each linear it spent on. */
  spent: Record<string, { extraChannels: number; fp32: boolean }>;
}

export interface TowerBuild {
  precision: Precision;
  /** int8 builds: cosine with the fp32 features on the calibration rows. */
  drift?: Int8Drift;
  /** int8 builds: the channel plan and what the accuracy search spent. */
  int8Plan?: Int8Plan;
  /** Bytes of all weights of the tower at this precision (sum of external data). */
  weightBytes: number;
  /** The budget (bytes of measured peak memory per segment) the tower was cut under, when it was. */
  segmentBudget?: number;
  segments: Segment[];
}

export interface PreprocessConfig {
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
  interpolation: 'bicubic' | 'bilinear';
  resizeMode: 'shortest' | 'squash';
}

export interface TokenizerConfig {
  kind: 'clip-bpe';
  /** The gzipped merges file (bpe_simple_vocab_16e6.txt.gz). */
  vocab: FileRef;
  contextLength: number;
  sotId: number;
  eotId: number;
}

export interface ModelManifest {
  schema: typeof MANIFEST_SCHEMA;
  modelId: string;
  /** Content hash of the build (source checkpoint + every file); keys derived data such as prompt embeddings. */
  buildHash: string;
  createdAt: string;
  /** "random" for synthetic benchmark checkpoints: never to be mistaken for the real model. */
  weights: 'real' | 'random';
  source: { checkpoint: string; format: 'safetensors' | 'pytorch'; sha256: string; bytes: number };
  /** The checkpoint's open_clip_config.json, verbatim. */
  openClipConfig: { model_cfg: Record<string, unknown>; preprocess_cfg?: Record<string, unknown> };
  embedDim: number;
  logitScale: number;
  preprocess: PreprocessConfig;
  tokenizer: TokenizerConfig;
  towers: Record<TowerName, Partial<Record<Precision, TowerBuild>>>;
}

function fail(what: string): never {
  throw new EdgeClipError('BAD_MANIFEST', `manifest: ${what}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkFileRef(v: unknown, where: string): void {
  if (!isObj(v) || typeof v.file !== 'string' || typeof v.bytes !== 'number' || typeof v.sha256 !== 'string') {
    fail(`${where} is not a {file, bytes, sha256} entry`);
  }
  if (v.file.includes('..') || v.file.startsWith('/')) fail(`${where}.file must be a relative path inside the build`);
  if (!/^[0-9a-f]{64}$/.test(v.sha256)) fail(`${where}.sha256 is not a hex sha256`);
}

/** Validates parsed JSON as a manifest of this schema version; throws BAD_MANIFEST naming the first problem. */
export function parseManifest(json: unknown): ModelManifest {
  if (!isObj(json)) fail('not a JSON object');
  if (json.schema !== MANIFEST_SCHEMA) fail(`schema is ${JSON.stringify(json.schema)}, expected ${MANIFEST_SCHEMA}`);
  for (const key of ['modelId', 'buildHash', 'createdAt'] as const) {
    if (typeof json[key] !== 'string') fail(`${key} must be a string`);
  }
  if (json.weights !== 'real' && json.weights !== 'random') fail('weights must be "real" or "random"');
  if (typeof json.embedDim !== 'number' || typeof json.logitScale !== 'number') fail('embedDim/logitScale missing');
  const pre = json.preprocess;
  if (!isObj(pre) || typeof pre.size !== 'number' || !Array.isArray(pre.mean) || !Array.isArray(pre.std)) {
    fail('preprocess must have size, mean and std');
  }
  const tok = json.tokenizer;
  if (!isObj(tok) || tok.kind !== 'clip-bpe' || typeof tok.contextLength !== 'number') fail('tokenizer is invalid');
  checkFileRef(tok.vocab, 'tokenizer.vocab');
  const towers = json.towers;
  if (!isObj(towers)) fail('towers missing');
  for (const tower of ['image', 'text'] as const) {
    const builds = towers[tower];
    if (!isObj(builds)) fail(`towers.${tower} missing`);
    for (const [precision, build] of Object.entries(builds)) {
      const where = `towers.${tower}.${precision}`;
      if (!(PRECISIONS as readonly string[]).includes(precision)) fail(`${where}: unknown precision`);
      if (!isObj(build) || !Array.isArray(build.segments) || build.segments.length === 0) fail(`${where}: no segments`);
      if (build.segmentBudget !== undefined && typeof build.segmentBudget !== 'number')
        fail(`${where}.segmentBudget must be a number`);
      if (
        build.drift !== undefined &&
        (!isObj(build.drift) ||
          !['rows', 'minCos', 'meanCos'].every((k) => typeof (build.drift as Record<string, unknown>)[k] === 'number'))
      )
        fail(`${where}.drift is invalid`);
      build.segments.forEach((seg: unknown, i: number) => {
        if (!isObj(seg) || !Array.isArray(seg.externalData)) fail(`${where}.segments[${i}] is invalid`);
        checkFileRef(seg.graph, `${where}.segments[${i}].graph`);
        if (
          seg.memory !== undefined &&
          (!isObj(seg.memory) ||
            !['jsLoadBytes', 'wasmAfterCreateBytes', 'wasmAfterRunBytes', 'jsRequestBytes', 'batch'].every(
              (k) => typeof (seg.memory as Record<string, unknown>)[k] === 'number',
            ))
        )
          fail(`${where}.segments[${i}].memory is invalid`);
        for (const ext of seg.externalData as unknown[]) {
          if (!isObj(ext) || typeof ext.location !== 'string' || !Array.isArray(ext.shards)) {
            fail(`${where}.segments[${i}] has an invalid external-data entry`);
          }
          // Tools write files named by `location` (export-triton): it must stay a plain file name.
          if (!/^[\w.-]+$/.test(ext.location as string) || (ext.location as string).includes('..'))
            fail(`${where}.segments[${i}]: external-data location ${JSON.stringify(ext.location)} must be a file name`);
          let covered = 0;
          for (const shard of ext.shards as unknown[]) {
            checkFileRef(shard, `${where} shard`);
            if ((shard as ShardRef).offset !== covered) fail(`${where}: shards of ${ext.location} are not contiguous`);
            covered += (shard as ShardRef).bytes;
          }
          if (covered !== ext.bytes) fail(`${where}: shards of ${ext.location} cover ${covered} of ${ext.bytes} bytes`);
        }
      });
    }
  }
  return json as unknown as ModelManifest;
}

/** Every file a tower needs at one precision: graphs first, then shards. */
export function towerFiles(manifest: ModelManifest, tower: TowerName, precision: Precision): FileRef[] {
  const build = manifest.towers[tower][precision];
  if (!build) return [];
  return build.segments.flatMap((s) => [s.graph, ...s.externalData.flatMap((e) => e.shards)]);
}
