/** Zero-shot classification at the edge: one image embedding per image plus one matrix product per label set. */
import type { Classifier } from '../contracts/classifier-blob.ts';
import { EdgeClipError } from '../contracts/errors.ts';
import { expandPrompts, type LabelSet } from '../contracts/labelset.ts';
import type { Precision } from '../contracts/manifest.ts';
import { embedImages, embedTexts, type Timing } from './embed.ts';
import type { RequestCache } from './embedding-cache.ts';
import type { PreprocessOptions } from './image/preprocess-image.ts';
import type { LabelsetStore } from './labelset-store.ts';
import type { ModelService } from './model-service.ts';
import { yieldToOthers } from './yield-to-others.ts';
import { classifierRows, type LabelScore, zeroShotScores } from './zero-shot.ts';

/** Small batches with a yield between them: other requests (health probes too) run while a label set is encoded. */
const TEXT_BATCH = 8;

/**
 * Classifier rows for an ad-hoc label set. Prompt embeddings are cached in KV by exact prompt and build, so the same
 * labels a second time encode nothing. More than `maxEncoded` prompts to compute is refused (413) before any work.
 */
export async function adHocClassifier(
  models: ModelService,
  store: LabelsetStore,
  set: LabelSet,
  precision: Precision,
  timing: Timing,
  maxEncoded = Number.POSITIVE_INFINITY,
): Promise<{ rows: Float32Array; encoded: number }> {
  const m = await models.manifest();
  const prompts = expandPrompts(set);
  const cached = await timing.measure('cache', () => store.cachedPrompts(m, precision, prompts));
  const missing = prompts.flatMap((_, i) => (cached[i] ? [] : [i]));
  if (missing.length > maxEncoded)
    throw new EdgeClipError(
      'PAYLOAD_TOO_LARGE',
      `${missing.length} of these prompts are not cached and at most ${maxEncoded} are computed per request: store the labels once as a label set (PUT /v1/labelsets/{name}, or edge-clip prompts build + upload) and classify with labelset`,
    );
  for (let s = 0; s < missing.length; s += TEXT_BATCH) {
    if (s > 0) await yieldToOthers();
    const chunk = missing.slice(s, s + TEXT_BATCH);
    const emb = await embedTexts(
      models,
      chunk.map((i) => prompts[i]),
      precision,
      timing,
    );
    await Promise.all(
      chunk.map((p, r) => {
        const row = emb.data.slice(r * emb.dim, (r + 1) * emb.dim);
        cached[p] = row;
        return store.cachePrompt(m, precision, prompts[p], row);
      }),
    );
  }
  const all = new Float32Array(prompts.length * m.embedDim);
  cached.forEach((e, i) => {
    all.set(e!, i * m.embedDim);
  });
  return { rows: classifierRows(all, set.labels.length, set.templates.length, m.embedDim), encoded: missing.length };
}

export interface Classification {
  results: LabelScore[][];
}

export async function classifyImages(
  models: ModelService,
  images: readonly Uint8Array[],
  classifier: Pick<Classifier, 'weights'> & { labels: string[] },
  precision: Precision,
  topK: number,
  timing: Timing,
  options: PreprocessOptions,
  cache?: RequestCache,
): Promise<Classification> {
  const m = await models.manifest();
  const emb = await embedImages(models, images, precision, timing, options, cache);
  const results = await timing.measure('classify', () =>
    images.map((_, i) =>
      zeroShotScores(
        emb.data.subarray(i * emb.dim, (i + 1) * emb.dim),
        classifier.weights,
        classifier.labels,
        m.logitScale,
        topK,
      ),
    ),
  );
  return { results };
}
