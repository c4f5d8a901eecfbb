/** POST /v1/classify: zero-shot labels for one or more images, against a stored label set or ad-hoc labels. */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { EdgeClipError } from '../../contracts/errors.ts';
import { parseLabelSet } from '../../contracts/labelset.ts';
import { adHocClassifier, classifyImages } from '../../model/classify.ts';
import type { LabelsetStore } from '../../model/labelset-store.ts';
import type { AppEnv } from '../app-env.ts';
import { readJson } from '../request-body.ts';
import {
  checkModel,
  checkPromptTexts,
  decodeDataUri,
  invalid,
  positiveInt,
  readImageUpload,
  resolveOrientation,
  resolvePrecision,
  withFallback,
} from '../request-options.ts';

export function requireStore(c: Context<AppEnv>): LabelsetStore {
  const store = c.get('deps').labelsets;
  if (!store)
    throw new EdgeClipError('MODEL_NOT_READY', 'no label-set store (KV binding PROMPTS) is configured', {
      retryAfter: 60,
    });
  return store;
}

/** Ad-hoc labels arrive as a JSON array, or in query/multipart fields as a JSON array or comma-separated text. */
function listField(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) return v as string[];
  if (typeof v !== 'string') throw invalid(`${what} must be an array of strings`);
  if (v.trim().startsWith('[')) {
    try {
      return JSON.parse(v) as string[];
    } catch {
      throw invalid(`${what} is not a valid JSON array`);
    }
  }
  return v.split(',').map((s) => s.trim());
}

export const classifyRoutes = new Hono<AppEnv>().post('/v1/classify', async (c) => {
  const { config, models } = c.get('deps');
  const type = c.req.header('content-type') ?? '';
  let options: Record<string, unknown>;
  let images: Uint8Array[];
  let batch = false;
  if (/^(image\/|multipart\/form-data|application\/octet-stream)/i.test(type)) {
    const upload = await readImageUpload(c.req.raw, config.maxBodyBytes);
    images = [upload.image];
    options = { ...c.req.query(), ...upload.fields };
  } else {
    options = await readJson(c.req.raw, config.maxBodyBytes);
    if (options.images !== undefined) {
      if (!Array.isArray(options.images) || options.images.length === 0)
        throw invalid('images must be a non-empty array of data URIs');
      if (options.images.length > config.maxInputs)
        throw new EdgeClipError('PAYLOAD_TOO_LARGE', `at most ${config.maxInputs} images per request`);
      images = options.images.map((s, i) => decodeDataUri(s, `images[${i}]`));
      batch = true;
    } else {
      images = [decodeDataUri(options.image, 'image')];
    }
  }
  const topK = positiveInt(options.top_k, 'top_k', 5, 1000);
  const model = await checkModel(c, options.model);
  const precision = await resolvePrecision(c, 'image', options.precision);
  const store = requireStore(c);
  const timing = c.get('timing');
  const manifest = await models.manifest();
  const labelsetName = options.labelset;
  const labels = listField(options.labels, 'labels');
  let classifier: { weights: Float32Array; labels: string[] };
  if (typeof labelsetName === 'string' && labelsetName !== '') {
    if (labels) throw invalid('give either labelset or labels, not both');
    const stored = await timing.measure('labelset', () => store.get(manifest, labelsetName, precision));
    classifier = { weights: stored.weights, labels: stored.header.labels };
  } else if (labels) {
    if (labels.length > config.maxLabels)
      throw new EdgeClipError(
        'PAYLOAD_TOO_LARGE',
        `at most ${config.maxLabels} ad-hoc labels (got ${labels.length}); upload a label set instead`,
      );
    const set = parseLabelSet({ name: 'ad-hoc', labels, templates: listField(options.templates, 'templates') });
    checkPromptTexts(set, config.maxTextChars);
    if (set.labels.length * set.templates.length > config.maxEdgePrompts)
      throw new EdgeClipError('PAYLOAD_TOO_LARGE', `labels × templates must be at most ${config.maxEdgePrompts}`);
    const { rows, encoded } = await adHocClassifier(models, store, set, precision, timing, config.maxRequestPrompts);
    c.header('x-prompts-encoded', String(encoded));
    classifier = { weights: rows, labels: set.labels };
  } else {
    throw invalid('give labelset (a name from GET /v1/labelsets) or labels (an array)');
  }
  const preprocess = { orientation: resolveOrientation(options.orientation), maxPixels: config.maxImagePixels };
  const k = Math.min(topK, classifier.labels.length);
  const run = await withFallback(c, precision, options.fallback, (p) =>
    classifyImages(models, images, classifier, p, k, timing, preprocess, c.get('cache')),
  );
  const { results } = run.result;
  c.header('x-precision', run.precision);
  const common = {
    model,
    labelset: typeof labelsetName === 'string' && labelsetName !== '' ? labelsetName : null,
    precision: run.precision,
    ...(run.degraded ? { degraded: true } : {}),
  };
  return c.json(
    batch
      ? { ...common, data: results.map((r, index) => ({ index, results: r })) }
      : { ...common, results: results[0] },
  );
});
