/** The two pipelines, transformers.js-style: processor → tower → post-processing (L2 normalization). */
import type { Precision } from '../contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../contracts/tensors.ts';
import { normalizationTable, type PreprocessOptions, preprocessImage } from './image/preprocess-image.ts';
import type { ModelService } from './model-service.ts';
import { l2NormalizeRows } from './postprocess.ts';
import { packIds } from './text-batch.ts';

/** Where the phases of a request spent their time (Server-Timing). */
export interface Timing {
  add(name: string, ms: number): void;
  measure<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

export interface Embeddings {
  /** [rows, dim], L2-normalized unless `raw` was asked for. */
  data: Float32Array;
  dim: number;
}

export interface TextEmbeddings extends Embeddings {
  /** Tokens per input including SOT/EOT, after truncation. */
  tokens: number[];
  /** Indices of inputs cut to the context length. */
  truncated: number[];
}

export async function embedTexts(
  models: ModelService,
  texts: readonly string[],
  precision: Precision,
  timing: Timing,
  raw = false,
): Promise<TextEmbeddings> {
  const tokenizer = await timing.measure('fetch', () => models.tokenizer());
  const tokenized = await timing.measure('tokenize', () => texts.map((t) => tokenizer.tokenize(t)));
  const runner = await timing.measure('fetch', () => models.tower('text', precision));
  const { embedDim } = await models.manifest();
  // Only the tokens up to EOT: the causal text graph gives the same features as padding to 77, at a fraction of the cost.
  const { data, dims } = packIds(tokenized.map((t) => t.ids));
  const out = await timing.measure('infer', () => runner.run(TEXT_INPUT, data, dims));
  return {
    data: raw ? out : l2NormalizeRows(out, embedDim),
    dim: embedDim,
    tokens: tokenized.map((t) => t.ids.length),
    truncated: tokenized.flatMap((t, i) => (t.truncated ? [i] : [])),
  };
}

const tables = new WeakMap<object, Float32Array[]>();

export async function embedImages(
  models: ModelService,
  images: readonly Uint8Array[],
  precision: Precision,
  timing: Timing,
  options: PreprocessOptions = {},
  raw = false,
): Promise<Embeddings> {
  const manifest = await models.manifest();
  const cfg = manifest.preprocess;
  let table = tables.get(cfg);
  if (!table) {
    table = normalizationTable(cfg);
    tables.set(cfg, table);
  }
  const plane = 3 * cfg.size * cfg.size;
  // Decode everything first, so that a bad image fails the request before any inference is spent.
  const pixels = new Float32Array(plane * images.length);
  for (let i = 0; i < images.length; i++) {
    const r = await preprocessImage(images[i], cfg, pixels, i * plane, options, table);
    timing.add('decode', r.decodeMs);
    timing.add('preprocess', r.resizeMs);
  }
  const runner = await timing.measure('fetch', () => models.tower('image', precision));
  const out = new Float32Array(images.length * manifest.embedDim);
  // One image per run: batching buys little on one CPU thread and multiplies activation memory.
  for (let i = 0; i < images.length; i++) {
    const input = pixels.subarray(i * plane, (i + 1) * plane);
    out.set(
      await timing.measure('infer', () => runner.run(IMAGE_INPUT, input, [1, 3, cfg.size, cfg.size])),
      i * manifest.embedDim,
    );
  }
  return { data: raw ? out : l2NormalizeRows(out, manifest.embedDim), dim: manifest.embedDim };
}
