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
import { parsePreprocess } from '../checkpoint/openclip-config.ts';
import { buildImageTower } from '../graphs/image-tower.ts';
import { Layers } from '../graphs/layers.ts';
import { buildTextTower } from '../graphs/text-tower.ts';
import { ExternalDataWriter } from '../onnx/external-data.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { sha256Bytes, sha256File } from './file-hash.ts';

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
  log?: (line: string) => void;
}

function buildTower(
  tower: TowerName,
  precision: Precision,
  dir: string,
  opts: BuildOptions,
  read: (n: string) => Float32Array,
  loaded: ReturnType<typeof loadCheckpoint>,
): TowerBuild {
  const prefix = `${tower}.${precision}`;
  const weights = new ExternalDataWriter(dir, prefix, opts.shardSize);
  try {
    const g = new GraphBuilder(`${tower}_tower`, weights);
    const layers = new Layers(g, precision);
    if (tower === 'image') buildImageTower(layers, loaded.arch.vision, loaded.arch.embedDim, read);
    else buildTextTower(layers, loaded.arch.text, loaded.arch.embedDim, read);
    const bytes = g.encode({ tower, precision });
    const graphFile = `${prefix}.onnx`;
    writeFileSync(join(dir, graphFile), bytes);
    const externalData = weights.finish();
    const segment: Segment = {
      index: 0,
      graph: { file: graphFile, bytes: bytes.length, sha256: sha256Bytes(bytes) },
      externalData,
      inputs: g.inputs,
      outputs: g.outputs,
    };
    return { precision, weightBytes: externalData.reduce((a, e) => a + e.bytes, 0), segments: [segment] };
  } catch (e) {
    weights.abort();
    throw e;
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
