/** Text → tokenizer → text tower → L2 normalization: the only place texts become tower input. */
import { EdgeClipError } from '../../contracts/errors.ts';
import type { ClipModel } from '../clip-model.ts';
import { embeddingKey } from '../embedding-cache.ts';
import { l2NormalizeRows } from '../postprocess.ts';
import { yieldToOthers } from '../yield-to-others.ts';
import { cachedRows, type Embeddings, NO_TIMING, type PipelineOptions, startLoad, storeRows } from './rows.ts';

export interface TextOptions extends PipelineOptions {
  /** Texts per tower run (all at once when absent); other work runs between runs. */
  batch?: number;
  /** The texts are label-set prompts: cache tiers that keep only prompts (KV) keep them. */
  prompts?: boolean;
  /** More texts to compute than `count` is refused (413, with `advice`) before any work. */
  maxComputed?: { count: number; advice: string };
  /** Texts computed so far, after each run. */
  onProgress?: (computed: number) => void;
}

export interface TextEmbeddings extends Embeddings {
  /** Tokens per input including SOT/EOT, after truncation. */
  tokens: number[];
  /** Indices of inputs cut to the context length (as OpenCLIP does). */
  truncated: number[];
}

export async function embedTexts(
  model: ClipModel,
  texts: readonly string[],
  options: TextOptions,
): Promise<TextEmbeddings> {
  const { precision, cache, maxComputed } = options;
  const timing = options.timing ?? NO_TIMING;
  const m = await model.manifest();
  const dim = m.embedDim;
  const out = new Float32Array(texts.length * dim);
  const encoder = new TextEncoder();
  const use = options.prompts ? 'prompt' : 'text';
  const { keys, misses } = await cachedRows(
    cache,
    timing,
    use,
    texts.length,
    (i) => embeddingKey(m, precision, 'text', encoder.encode(texts[i])),
    dim,
    out,
  );
  if (maxComputed && misses.length > maxComputed.count)
    throw new EdgeClipError(
      'PAYLOAD_TOO_LARGE',
      `${misses.length} of these ${options.prompts ? 'prompts' : 'texts'} are not cached and at most ${maxComputed.count} are computed per request: ${maxComputed.advice}`,
    );
  // The tower loads (on a cold isolate) while the tokenizer loads and tokenizes.
  const loading = misses.length > 0 ? startLoad(model, 'text', precision) : undefined;
  const tokenizer = await timing.measure('fetch', () => model.tokenizer());
  const tokenized = await timing.measure('tokenize', () => texts.map((t) => tokenizer.tokenize(t)));
  if (loading) {
    await timing.measure('fetch', () => loading);
    const rowsOf = await model.textRows(precision);
    // Similar lengths together, and only the tokens up to EOT: the causal graph gives the same features as padding
    // to 77, at a fraction of the cost, and a batch is padded to its longest text.
    const order = [...misses].sort((a, b) => tokenized[a].ids.length - tokenized[b].ids.length);
    const size = options.batch ?? order.length;
    for (let s = 0; s < order.length; s += size) {
      if (s > 0) await yieldToOthers();
      options.signal?.throwIfAborted();
      const part = order.slice(s, s + size);
      // Admitted part by part: a label set of thousands of prompts counts as one part in the queue, so that requests
      // behind it are not refused for all of it (its parts interleave with theirs); only the first part is refused.
      const release = await model.admit('text', precision, part.length, s === 0);
      try {
        const rows = await timing.measure('infer', () =>
          rowsOf(
            part.map((i) => tokenized[i].ids),
            options.signal,
          ),
        );
        storeRows(cache, use, part, keys, rows, dim, out);
      } finally {
        release();
      }
      options.onProgress?.(s + part.length);
    }
  }
  return {
    data: options.raw ? out : l2NormalizeRows(out, dim),
    dim,
    computed: misses.length,
    tokens: tokenized.map((t) => t.ids.length),
    truncated: tokenized.flatMap((t, i) => (t.truncated ? [i] : [])),
  };
}
