/**
 * `edge-clip prompts build`: a label set's classifier through the same pipeline as `PUT /v1/labelsets`
 * (`labelSetClassifier`), on onnxruntime-node with all cores and large batches. Every computed prompt embedding is
 * appended to `<out>.partial/rows.bin` as it is made; an interrupted run (or one stopped by `maxBatches`) finds them
 * there as cache hits and computes only the rest.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { openLocalModel } from '../../src/adapters/node/local-model.ts';
import { type Classifier, classifierOf, encodeClassifier } from '../../src/contracts/classifier-blob.ts';
import { expandPrompts, type LabelSet } from '../../src/contracts/labelset.ts';
import type { ModelManifest, Precision } from '../../src/contracts/manifest.ts';
import { EmbeddingCache, RequestCache } from '../../src/model/embedding-cache.ts';
import { labelSetClassifier } from '../../src/model/pipelines/classify.ts';
import type { EmbeddingStore } from '../../src/model/ports.ts';
import { Progress } from '../cli/progress.ts';

export interface BuildClassifierOptions {
  dir: string;
  manifest: ModelManifest;
  set: LabelSet;
  precision: Precision;
  dtype: 'float16' | 'float32';
  out: string;
  batch: number;
  threads: number;
  /** Stop after this many batches in this run (resumable): long builds in time-limited jobs. */
  maxBatches?: number;
}

export interface BuildClassifierResult {
  /** Undefined when the run stopped early (maxBatches) with its progress kept. */
  classifier?: Classifier;
  prompts: number;
  computedPrompts: number;
  seconds: number;
  promptsPerSecond: number;
  resumedPrompts: number;
}

/**
 * Records of [key length u16][key utf-8][dim float32]. A record cut by an interruption is cut off the file on open:
 * left there, every record appended after it would be read from the wrong offset.
 */
class CheckpointRows implements EmbeddingStore {
  private readonly rows = new Map<string, Float32Array>();

  constructor(
    private readonly file: string,
    dim: number,
  ) {
    if (!existsSync(file)) return;
    const b = readFileSync(file);
    let p = 0;
    while (p + 2 <= b.length) {
      const keyLength = b.readUInt16LE(p);
      const end = p + 2 + keyLength + 4 * dim;
      if (end > b.length) break;
      const row = new Float32Array(b.buffer.slice(b.byteOffset + end - 4 * dim, b.byteOffset + end));
      this.rows.set(b.toString('utf8', p + 2, p + 2 + keyLength), row);
      p = end;
    }
    if (p < b.length) truncateSync(file, p);
  }

  async get(key: string): Promise<Float32Array | undefined> {
    return this.rows.get(key);
  }

  async put(key: string, value: Float32Array): Promise<void> {
    const k = Buffer.from(key);
    const head = Buffer.alloc(2);
    head.writeUInt16LE(k.length);
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, Buffer.concat([head, k, Buffer.from(value.buffer, value.byteOffset, value.byteLength)]));
    this.rows.set(key, value);
  }
}

/** Thrown into the pipeline when `maxBatches` batches are done. */
class StopAfterBatches extends Error {}

export async function buildClassifier(o: BuildClassifierOptions): Promise<BuildClassifierResult> {
  const prompts = expandPrompts(o.set);
  const dim = o.manifest.embedDim;
  const partialDir = `${o.out}.partial`;
  const cache = new RequestCache(
    new EmbeddingCache([{ store: new CheckpointRows(join(partialDir, 'rows.bin'), dim) }]),
  );
  const model = await openLocalModel(o.dir, { threads: o.threads });
  const progress = new Progress(`prompts ${o.set.name}`, prompts.length, 'items', process.stderr);
  const stop = new AbortController();
  let batches = 0;
  let computed = 0;
  const t0 = Date.now();
  let built: Awaited<ReturnType<typeof labelSetClassifier>> | undefined;
  try {
    built = await labelSetClassifier(model, o.set, {
      precision: o.precision,
      cache,
      batch: o.batch,
      signal: stop.signal,
      onProgress: (done) => {
        computed = done;
        progress.update(cache.hits + done);
        if (++batches === o.maxBatches) stop.abort(new StopAfterBatches());
      },
    });
  } catch (e) {
    if (!(e instanceof StopAfterBatches)) throw e;
  } finally {
    await model.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const resumedPrompts = cache.hits;
  const computedPrompts = built?.computed ?? computed;
  if (resumedPrompts > 0)
    process.stderr.write(`resumed: ${resumedPrompts} of ${prompts.length} prompts were computed before\n`);
  const stats = {
    prompts: prompts.length,
    computedPrompts,
    seconds,
    promptsPerSecond: computedPrompts / seconds,
    resumedPrompts,
  };
  if (!built) return stats;
  progress.update(prompts.length);
  const classifier = classifierOf(o.manifest, o.set, o.precision, o.dtype, built.weights);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(`${o.out}.tmp`, encodeClassifier(classifier));
  renameSync(`${o.out}.tmp`, o.out);
  rmSync(partialDir, { recursive: true, force: true });
  return { classifier, ...stats };
}
