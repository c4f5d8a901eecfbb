/** checkpoint → ONNX towers per precision → external-data shards → manifest, written atomically into the out folder. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  MANIFEST_FILE,
  MANIFEST_SCHEMA,
  type ModelManifest,
  type Precision,
  type Segment,
  TOWERS,
  type TowerBuild,
  type TowerName,
} from '../../src/shared/manifest.ts';
import { loadCheckpoint } from '../checkpoint/load-checkpoint.ts';
import { parsePreprocess, stateDictSpec } from '../checkpoint/openclip-config.ts';
import { buildImageTower, imageUnits } from '../graphs/image-tower.ts';
import { Layers } from '../graphs/layers.ts';
import { buildTextTower, textUnits } from '../graphs/text-tower.ts';
import { ExternalDataWriter } from '../onnx/external-data.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { sha256Bytes, sha256File } from './file-hash.ts';
import { planSegments, unitWeightBytes } from './plan-segments.ts';

export const VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';

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
  /** Cut each tower into segments of at most this many (estimated) bytes; one segment per tower when absent. */
  segmentBudget?: number;
  log?: (line: string) => void;
}

/** Segment ranges of a tower: one segment, or consecutive units packed under `segmentBudget` (estimated bytes). */
function towerSegments(
  tower: TowerName,
  precision: Precision,
  opts: BuildOptions,
  loaded: ReturnType<typeof loadCheckpoint>,
): [number, number][] {
  const { arch } = loaded;
  const units = tower === 'image' ? imageUnits(arch.vision) : textUnits(arch.text);
  if (!opts.segmentBudget) return [[0, units.length]];
  const spec = stateDictSpec(arch);
  // A few live MLP-sized activations at batch 1 (image: h²·4C floats; text: 77·4W floats).
  const image = imageUnits(arch.vision);
  const activation = (k: number) =>
    tower === 'image'
      ? 4 * 4 * image[k].h ** 2 * 4 * Math.max(image[k].c, 1)
      : 3 * 4 * arch.text.contextLength * 4 * arch.text.width;
  const costs = units.map((u, k) => unitWeightBytes(spec, u.prefixes, precision) * 1.1 + activation(k));
  return planSegments(costs, opts.segmentBudget);
}

function buildTower(
  tower: TowerName,
  precision: Precision,
  dir: string,
  opts: BuildOptions,
  read: (n: string) => Float32Array,
  loaded: ReturnType<typeof loadCheckpoint>,
): TowerBuild {
  const ranges = towerSegments(tower, precision, opts, loaded);
  const segments: Segment[] = ranges.map((range, index) => {
    // An unsegmented tower keeps the plain names (image.int8.onnx); segments get .s<k>.
    const prefix = ranges.length === 1 ? `${tower}.${precision}` : `${tower}.${precision}.s${index}`;
    const weights = new ExternalDataWriter(dir, prefix, opts.shardSize);
    try {
      const g = new GraphBuilder(`${tower}_tower`, weights);
      const layers = new Layers(g, precision);
      if (tower === 'image') buildImageTower(layers, loaded.arch.vision, loaded.arch.embedDim, read, range);
      else buildTextTower(layers, loaded.arch.text, loaded.arch.embedDim, read, range);
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
  return { precision, weightBytes, segments };
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
    for (const tower of TOWERS) {
      for (const precision of opts.precisions) {
        const t0 = Date.now();
        log(`building ${tower} tower, ${precision}`);
        towers[tower][precision] = buildTower(tower, precision, tmp, opts, read, loaded);
        log(
          `  ${tower} ${precision}: ${(towers[tower][precision]!.weightBytes / 2 ** 20).toFixed(1)} MiB of weights in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
    }
    writeFileSync(join(tmp, VOCAB_FILE), readFileSync(opts.vocab));
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
      preprocess: parsePreprocess(config, arch, loaded.configFile),
      tokenizer: {
        kind: 'clip-bpe',
        vocab: { file: VOCAB_FILE, bytes: vocabBytes, sha256: vocabSha },
        contextLength: arch.text.contextLength,
        sotId: 49406,
        eotId: 49407,
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
