/**
 * Computes a label set's classifier with onnxruntime-node: every prompt through the dynamic-length text graph, in
 * batches of similar length, all cores. Progress is checkpointed to `<out>.partial/` so an interrupted run resumes.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadRunner, loadTokenizer } from '../../src/adapters/node/local-build.ts';
import { type Classifier, encodeClassifier } from '../../src/contracts/classifier-blob.ts';
import { expandPrompts, type LabelSet } from '../../src/contracts/labelset.ts';
import type { ModelManifest, Precision } from '../../src/contracts/manifest.ts';
import { TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { l2NormalizeRows } from '../../src/model/postprocess.ts';
import { packIds } from '../../src/model/text-batch.ts';
import { classifierRows } from '../../src/model/zero-shot.ts';
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
  /** Checkpoint every this many milliseconds. */
  checkpointMs?: number;
  /** Stop after this many batches in this run (checkpointed, resumable): long builds in time-limited jobs. */
  maxBatches?: number;
}

interface PartialState {
  key: string;
  batchesDone: number;
}

export interface BuildClassifierResult {
  /** Undefined when the run stopped early (maxBatches) with its progress checkpointed. */
  classifier?: Classifier;
  prompts: number;
  computedPrompts: number;
  seconds: number;
  promptsPerSecond: number;
  resumedPrompts: number;
}

export async function buildClassifier(o: BuildClassifierOptions): Promise<BuildClassifierResult> {
  const prompts = expandPrompts(o.set);
  const tokenizer = await loadTokenizer(o.dir, o.manifest);
  const ids = prompts.map((p) => tokenizer.tokenize(p).ids);
  // Similar lengths together: the batch is padded to its longest prompt.
  const order = Array.from(ids.keys()).sort((a, b) => ids[a].length - ids[b].length);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += o.batch) batches.push(order.slice(i, i + o.batch));
  const dim = o.manifest.embedDim;

  const partialDir = `${o.out}.partial`;
  const key = createHash('sha256')
    .update(JSON.stringify([o.manifest.buildHash, o.precision, prompts, o.batch]))
    .digest('hex');
  const embeddings = new Float32Array(prompts.length * dim);
  let start = 0;
  if (existsSync(`${partialDir}/state.json`)) {
    const state = JSON.parse(readFileSync(`${partialDir}/state.json`, 'utf8')) as PartialState;
    if (state.key === key) {
      const saved = readFileSync(`${partialDir}/embeddings.f32`);
      new Uint8Array(embeddings.buffer).set(saved.subarray(0, embeddings.byteLength));
      start = state.batchesDone;
    }
  }
  const resumedPrompts = batches.slice(0, start).reduce((a, b) => a + b.length, 0);
  if (start > 0) process.stderr.write(`resuming: ${resumedPrompts} of ${prompts.length} prompts already computed\n`);

  const runner = await loadRunner(o.dir, o.manifest, 'text', o.precision, 'node', o.threads);
  const progress = new Progress(`prompts ${o.set.name}`, prompts.length, 'items', process.stderr, resumedPrompts);
  const save = (batchesDone: number) => {
    mkdirSync(partialDir, { recursive: true });
    writeFileSync(`${partialDir}/embeddings.f32`, new Uint8Array(embeddings.buffer));
    writeFileSync(`${partialDir}/state.json`, JSON.stringify({ key, batchesDone } satisfies PartialState));
  };
  const t0 = Date.now();
  let lastSave = Date.now();
  let done = resumedPrompts;
  const end = Math.min(batches.length, start + (o.maxBatches ?? batches.length));
  for (let b = start; b < end; b++) {
    const batch = batches[b];
    const packed = packIds(batch.map((i) => ids[i]));
    const out = l2NormalizeRows(await runner.run(TEXT_INPUT, packed.data, packed.dims), dim);
    batch.forEach((p, r) => {
      embeddings.set(out.subarray(r * dim, (r + 1) * dim), p * dim);
    });
    done += batch.length;
    progress.update(done);
    if (Date.now() - lastSave > (o.checkpointMs ?? 30_000)) {
      save(b + 1);
      lastSave = Date.now();
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  const stats = {
    prompts: prompts.length,
    computedPrompts: done - resumedPrompts,
    seconds,
    promptsPerSecond: (done - resumedPrompts) / seconds,
    resumedPrompts,
  };
  if (end < batches.length) {
    save(end);
    for (const s of runner.sessions) await s.release();
    return stats;
  }
  const classifier: Classifier = {
    header: {
      schema: 'edge-clip.classifier/v1',
      name: o.set.name,
      modelId: o.manifest.modelId,
      buildHash: o.manifest.buildHash,
      precision: o.precision,
      dtype: o.dtype,
      labels: o.set.labels,
      templates: o.set.templates,
      dim,
      createdAt: new Date().toISOString(),
    },
    weights: classifierRows(embeddings, o.set.labels.length, o.set.templates.length, dim),
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(`${o.out}.tmp`, encodeClassifier(classifier));
  renameSync(`${o.out}.tmp`, o.out);
  rmSync(partialDir, { recursive: true, force: true });
  for (const s of runner.sessions) await s.release();
  return { classifier, ...stats };
}
