/** checkpoint → ONNX towers per precision → external-data shards → manifest, written atomically into the out folder. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import {
  MANIFEST_FILE,
  MANIFEST_SCHEMA,
  type ModelManifest,
  type Precision,
  type Segment,
  segmentLoadingBytes,
  segmentServingBytes,
  TOWERS,
  type TowerName,
} from '../../src/contracts/manifest.ts';
import { CLIP_TOKENS } from '../../src/contracts/tensors.ts';
import { ClipTokenizer } from '../../src/model/tokenizer.ts';
import { SHIPPED_VOCAB, SHIPPED_VOCAB_SHA256 } from '../assets.ts';
import { loadCheckpoint } from '../checkpoint/load-checkpoint.ts';
import { parsePreprocess, stateDictSpec } from '../checkpoint/openclip-config.ts';
import { buildImageTower, imageUnits } from '../graphs/image-tower.ts';
import { Layers, type LayersOptions, type PlannedInt8 } from '../graphs/layers.ts';
import { buildTextTower, textUnits } from '../graphs/text-tower.ts';
import { ExternalDataWriter } from '../onnx/external-data.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { collectActivationStats, fp32Conditioning } from '../quantize/activation-stats.ts';
import { type Calibration, loadCalibration } from '../quantize/calibration.ts';
import { buildInt8Tower, DEFAULT_MIN_INT8_COS, type Int8Build } from '../quantize/int8-search.ts';
import { sha256Bytes, sha256File } from './file-hash.ts';
import {
  DEFAULT_MAX_STEP_GFLOPS,
  fits,
  LOADING_HEADROOM,
  planSegments,
  type Range,
  refinePlan,
  TEXT_MAX_SEGMENT_UNITS,
  type UnitCost,
  unitMacsPerPosition,
  unitWeightBytes,
} from './plan-segments.ts';
import { measureSegment, SEGMENT_BATCH } from './segment-memory.ts';

const VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';

export interface BuildOptions {
  /** Local checkpoint folder or weights file. */
  checkpoint: string;
  out: string;
  precisions: Precision[];
  shardSize: number;
  vocab: string;
  /** How the source is named in the manifest (e.g. hf:laion/...); defaults to the path. */
  sourceLabel?: string;
  modelId?: string;
  /**
   * Cut each tower into segments whose measured peak memory (wasm + JS buffers, in onnxruntime-web) stays under this
   * many bytes; one segment per tower when absent.
   */
  segmentBudget?: number;
  /** At least this many segments per tower (cut by weight), whatever the budget. */
  minSegments?: number;
  /**
   * The image tower is cut so that no segment does more than this many flops: a wasm call cannot be interrupted, and
   * between segments the isolate runs other work (text first). Text work is bounded by the batcher instead.
   * DEFAULT_MAX_STEP_GFLOPS when absent.
   */
  maxStepFlops?: number;
  /** Calibration inputs of the int8 drift report (a folder or JSONL); the built-in set when absent. */
  calibration?: string;
  /** The build fails when an int8 tower's worst calibration row has a lower cosine with fp32 than this. */
  minInt8Cos?: number;
  log?: (line: string) => void;
}

/** Per-unit weights and activation sizes, for planning segments (activations at the batch a segment is sent). */
function unitCosts(tower: TowerName, precision: Precision, loaded: ReturnType<typeof loadCheckpoint>): UnitCost[] {
  const { arch } = loaded;
  const spec = stateDictSpec(arch);
  const f32 = 4;
  if (tower === 'image') {
    const units = imageUnits(arch.vision);
    return units.map((u, k) => {
      const map = u.h ** 2 * u.c * f32;
      const output = u.c === 0 ? arch.embedDim * f32 : map;
      // A block's MLP keeps about three hidden-sized (4C) float tensors alive at once; other units hold in + out.
      const isBlock = u.prefixes[0].includes('.blocks.');
      const input = k === 0 ? 3 * arch.vision.imageSize ** 2 * f32 : units[k - 1].h ** 2 * units[k - 1].c * f32;
      return {
        weights: unitWeightBytes(spec, u.prefixes, precision),
        activations: isBlock ? 3 * 4 * map : 2 * (input + output),
        output,
        flops: 2 * u.h ** 2 * unitMacsPerPosition(spec, u.prefixes),
      };
    });
  }
  const rows = SEGMENT_BATCH.text * arch.text.contextLength;
  const hidden = rows * arch.text.width * f32;
  return textUnits(arch.text).map((u, k, all) => ({
    weights: unitWeightBytes(spec, u.prefixes, precision),
    activations: 3 * 4 * hidden,
    output: k === all.length - 1 ? SEGMENT_BATCH.text * arch.embedDim * f32 : hidden,
    flops: 2 * arch.text.contextLength * unitMacsPerPosition(spec, u.prefixes),
  }));
}

/** What building one tower at one precision needs. */
interface TowerJob {
  tower: TowerName;
  precision: Precision;
  /** The build's temp folder. */
  dir: string;
  opts: BuildOptions;
  read: (n: string) => Float32Array;
  loaded: ReturnType<typeof loadCheckpoint>;
  /** int8: calibration statistics and the precision the accuracy search spends. */
  layers?: LayersOptions;
}

/** Builds a tower: its graph, its shards, and what its `Layers` planned (int8 linears; switch indices). */
function buildTower(
  { tower, precision, dir, opts, read, loaded, layers: options }: TowerJob,
  ranges: Range[],
): Int8Build {
  const linears = new Map<string, PlannedInt8>();
  const switchIndex = new Map<string, number>();
  const segments: Segment[] = ranges.map((range, index) => {
    // An unsegmented tower keeps the plain names (image.int8.onnx); segments get .s<k>.
    const prefix = ranges.length === 1 ? `${tower}.${precision}` : `${tower}.${precision}.s${index}`;
    const weights = new ExternalDataWriter(dir, prefix, opts.shardSize);
    try {
      const g = new GraphBuilder(`${tower}_tower`, weights);
      const layers = new Layers(g, precision, options);
      if (tower === 'image') buildImageTower(layers, loaded.arch.vision, loaded.arch.embedDim, read, range);
      else buildTextTower(layers, loaded.arch.text, loaded.arch.embedDim, read, range);
      for (const [name, l] of layers.int8Linears) linears.set(name, l);
      for (const [name, i] of layers.switchIndex) switchIndex.set(name, i);
      const bytes = g.encode({
        tower,
        precision,
        segment: `${index + 1}/${ranges.length}`,
        units: `${range[0]}-${range[1]}`,
      });
      const graphFile = `${prefix}.onnx`;
      writeFileSync(join(dir, graphFile), bytes);
      return {
        index,
        graph: { file: graphFile, bytes: bytes.length, sha256: sha256Bytes(bytes) },
        externalData: weights.finish(),
        inputs: g.inputs,
        outputs: g.outputs,
      };
    } catch (e) {
      weights.abort();
      throw e;
    }
  });
  const weightBytes = segments.reduce((a, seg) => a + seg.externalData.reduce((b, e) => b + e.bytes, 0), 0);
  return { build: { precision, weightBytes, segments }, dir, linears, ...(switchIndex.size && { switchIndex }) };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

const calibrationSize = (tower: TowerName, c: Calibration) =>
  tower === 'image' ? `${c.imageCount} calibration images` : `${c.texts.length} calibration prompts`;

const removeFiles = ({ dir, build }: Int8Build) => {
  for (const seg of build.segments)
    for (const f of [seg.graph.file, ...seg.externalData.flatMap((e) => e.shards.map((s) => s.file))])
      rmSync(join(dir, f), { force: true });
};

/** How many times the build re-cuts a tower after measuring before it gives up. */
const MAX_REFINEMENTS = 6;

/**
 * One segment, or segments planned by estimate under the budget and then measured in onnxruntime-web: any segment
 * over the budget is split and the tower rebuilt, until every segment's measured peak fits.
 */
async function buildSegmentedTower(job: TowerJob): Promise<Int8Build> {
  const { tower, precision, dir, opts, loaded } = job;
  const log = opts.log ?? (() => {});
  const units = unitCosts(tower, precision, loaded);
  const { segmentBudget: budget, minSegments = 1 } = opts;
  const maxFlops = tower === 'image' ? (opts.maxStepFlops ?? DEFAULT_MAX_STEP_GFLOPS * 1e9) : undefined;
  const maxUnits = tower === 'text' ? TEXT_MAX_SEGMENT_UNITS : undefined;
  let plan = planSegments(units, { budget: budget ?? Number.POSITIVE_INFINITY, minSegments, maxFlops, maxUnits });
  for (let attempt = 0; ; attempt++) {
    const built = buildTower(job, plan);
    if (!budget) return built;
    const over: boolean[] = [];
    for (const segment of built.build.segments) {
      const memory = await measureSegment({ dir, tower, segment, sequence: loaded.arch.text.contextLength });
      segment.memory = memory;
      const measured = { serving: segmentServingBytes(memory), loading: segmentLoadingBytes(memory) };
      over.push(!fits(measured, budget));
      const [a, b] = plan[segment.index];
      log(
        `  ${tower} segment ${segment.index} (units ${a}-${b}): serving ${mib(measured.serving)} MiB, loading ${mib(measured.loading)} MiB`,
      );
      // No cut at block boundaries helps a unit that does not fit on its own.
      if (over[over.length - 1] && b - a === 1)
        throw new EdgeClipError(
          'INVALID_INPUT',
          `${tower} unit ${a} alone measures ${mib(measured.serving)} MiB serving and ${mib(measured.loading)} MiB loading, over the segment budget of ${mib(budget)} MiB (${mib(budget * LOADING_HEADROOM)} MiB while loading)`,
        );
    }
    const next = refinePlan(plan, units, over);
    if (!next) return { ...built, build: { ...built.build, segmentBudget: budget } };
    if (attempt === MAX_REFINEMENTS)
      throw new Error(`${tower} tower: segments still over budget after ${attempt} cuts`);
    log(`  ${tower}: ${over.filter(Boolean).length} segment(s) over budget, cutting again`);
    removeFiles(built);
    plan = next;
  }
}

export async function buildModel(opts: BuildOptions): Promise<ModelManifest> {
  const log = opts.log ?? (() => {});
  const out = resolve(opts.out);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  const loaded = loadCheckpoint(opts.checkpoint);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const { checkpoint, arch, config } = loaded;
    log(`hashing ${checkpoint.file}`);
    const sourceSha = await sha256File(checkpoint.file);
    const read = (name: string) => checkpoint.read(name);
    const towers: ModelManifest['towers'] = { image: {}, text: {} };
    const preprocess = parsePreprocess(config, arch, loaded.configFile);
    const calibration = opts.precisions.includes('int8')
      ? await loadCalibration(opts.calibration, preprocess)
      : undefined;
    const vocab = readFileSync(opts.vocab);
    // OpenCLIP's vocabulary (the shipped one, or a copy under its name) has one content: a damaged copy stops here.
    if (basename(opts.vocab) === basename(SHIPPED_VOCAB) && sha256Bytes(vocab) !== SHIPPED_VOCAB_SHA256)
      throw new EdgeClipError(
        'CHECKSUM_MISMATCH',
        `${opts.vocab} is not the vocabulary this project ships (sha256 ${sha256Bytes(vocab).slice(0, 12)}…, expected ${SHIPPED_VOCAB_SHA256.slice(0, 12)}…): the project's copy is assets/${basename(SHIPPED_VOCAB)}`,
      );
    const tokenizer = await ClipTokenizer.fromGzip(vocab, {
      ...CLIP_TOKENS,
      contextLength: arch.text.contextLength,
    });
    let trials = 0;
    for (const tower of TOWERS) {
      for (const precision of opts.precisions) {
        const t0 = Date.now();
        log(`building ${tower} tower, ${precision}`);
        const job: TowerJob = { tower, precision, dir: tmp, opts, read, loaded };
        if (precision === 'int8' && calibration) {
          log(`  calibrating: the fp32 ${tower} tower on ${calibrationSize(tower, calibration)}`);
          const statsJob = {
            tower,
            arch,
            read,
            scratch: join(tmp, '.probe'),
            calibration,
            tokenizer,
            imageSize: arch.vision.imageSize,
          };
          const calibrated = await collectActivationStats(statsJob);
          const { stats } = calibrated;
          const result = await buildInt8Tower({
            tower,
            calibration,
            calibrated,
            tokenizer,
            embedDim: arch.embedDim,
            imageSize: arch.vision.imageSize,
            gate: opts.minInt8Cos ?? DEFAULT_MIN_INT8_COS,
            buildFinal: (spend) => buildSegmentedTower({ ...job, layers: { stats, spend } }),
            buildSwitches: async (spend) => {
              // Two trials may be alive at once (the kept one and a candidate): a folder each.
              const scratch = join(tmp, `.search-${++trials}`);
              mkdirSync(scratch, { recursive: true });
              return buildTower({ ...job, dir: scratch, layers: { stats, spend, switches: true } }, [
                [0, unitCosts(tower, precision, loaded).length],
              ]);
            },
            conditioning: () => fp32Conditioning(statsJob, calibrated, arch.embedDim),
            discard: (b) => (b.dir === tmp ? removeFiles(b) : rmSync(b.dir, { recursive: true, force: true })),
            log,
          });
          towers[tower].int8 = { ...result.build, drift: result.drift, int8Plan: result.plan };
        } else {
          towers[tower][precision] = (await buildSegmentedTower(job)).build;
        }
        log(
          `  ${tower} ${precision}: ${(towers[tower][precision]!.weightBytes / 2 ** 20).toFixed(1)} MiB of weights in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
    }
    writeFileSync(join(tmp, VOCAB_FILE), vocab);
    const vocabBytes = statSync(join(tmp, VOCAB_FILE)).size;
    const vocabSha = await sha256File(join(tmp, VOCAB_FILE));
    const hashes = [
      sourceSha,
      vocabSha,
      ...Object.values(towers).flatMap((b) =>
        Object.values(b).flatMap((t) =>
          t!.segments.flatMap((s) => [s.graph.sha256, ...s.externalData.flatMap((e) => e.shards.map((x) => x.sha256))]),
        ),
      ),
    ];
    const weightsKind =
      (config as { edge_clip?: { weights?: string } }).edge_clip?.weights === 'random' ? 'random' : 'real';
    const manifest: ModelManifest = {
      schema: MANIFEST_SCHEMA,
      modelId: opts.modelId ?? basename(out),
      buildHash: sha256Bytes(new TextEncoder().encode(hashes.join('\n'))).slice(0, 16),
      createdAt: new Date().toISOString(),
      weights: weightsKind,
      source: {
        checkpoint: opts.sourceLabel ?? opts.checkpoint,
        format: checkpoint.format,
        sha256: sourceSha,
        bytes: statSync(checkpoint.file).size,
      },
      openClipConfig: config,
      embedDim: arch.embedDim,
      logitScale: read('logit_scale')[0],
      preprocess,
      tokenizer: {
        kind: 'clip-bpe',
        vocab: { file: VOCAB_FILE, bytes: vocabBytes, sha256: vocabSha },
        contextLength: arch.text.contextLength,
        sotId: CLIP_TOKENS.sotId,
        eotId: CLIP_TOKENS.eotId,
      },
      towers,
    };
    writeFileSync(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    const old = `${tmp}.old`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
    return manifest;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    loaded.checkpoint.close();
  }
}
