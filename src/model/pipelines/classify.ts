/**
 * Zero-shot classification: a label set's classifier (each label's prompts through the text pipeline, the normalized
 * mean per label), and images scored against one (the image pipeline, then softmax over exp(logit_scale)·cos).
 */
import { expandPrompts, type LabelSet } from '../../contracts/labelset.ts';
import type { ClipModel } from '../clip-model.ts';
import { classifierRows, type LabelScore, zeroShotScores } from '../zero-shot.ts';
import { embedImages, type ImageOptions } from './embed-images.ts';
import { embedTexts, type TextOptions } from './embed-texts.ts';
import { NO_TIMING } from './rows.ts';

/** Rows [labels, dim] (L2-normalized) and the labels they score. */
export interface Classifier {
  weights: Float32Array;
  labels: string[];
}

/**
 * The classifier of a label set. `PUT /v1/labelsets`, ad-hoc labels on `/v1/classify` and `edge-clip prompts build`
 * all make theirs here; the request's cache (or the CLI's checkpoint) answers prompts embedded before.
 */
export async function labelSetClassifier(
  model: ClipModel,
  set: LabelSet,
  options: TextOptions & { maxPromptChars?: number },
): Promise<Classifier & { computed: number }> {
  const m = await model.manifest();
  const prompts = expandPrompts(set, options.maxPromptChars);
  const emb = await embedTexts(model, prompts, { ...options, prompts: true, raw: false });
  return {
    weights: classifierRows(emb.data, set.labels.length, set.templates.length, m.embedDim),
    labels: set.labels,
    computed: emb.computed,
  };
}

export async function classifyImages(
  model: ClipModel,
  images: readonly Uint8Array[],
  classifier: Classifier,
  options: ImageOptions & { topK: number },
): Promise<LabelScore[][]> {
  const m = await model.manifest();
  const emb = await embedImages(model, images, { ...options, raw: false });
  const timing = options.timing ?? NO_TIMING;
  return timing.measure('classify', () =>
    images.map((_, i) =>
      zeroShotScores(
        emb.data.subarray(i * emb.dim, (i + 1) * emb.dim),
        classifier.weights,
        classifier.labels,
        m.logitScale,
        options.topK,
      ),
    ),
  );
}
