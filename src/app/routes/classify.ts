/** POST /v1/classify: zero-shot labels for one or more images, against a stored label set or ad-hoc labels. */
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import type * as v from 'valibot';
import { EdgeClipError } from '../../contracts/errors.ts';
import { DEFAULT_TEMPLATES } from '../../contracts/labelset.ts';
import type { ClassifierStore } from '../../model/classifier-store.ts';
import { type Classifier, classifyImages, labelSetClassifier } from '../../model/pipelines/classify.ts';
import type { AppEnv } from '../app-env.ts';
import { doc } from '../openapi.ts';
import { readJson } from '../request-body.ts';
import { checkModel, imageInputs, invalid, precisionFor, readImageUpload, withFallback } from '../request-options.ts';
import type { ApiSchemas } from '../schemas.ts';
import { check } from '../validate.ts';

/** Ad-hoc prompts per run at the edge: small batches with other work (health probes too) between them. */
export const PROMPT_BATCH = 8;

export function requireStore(c: Context<AppEnv>): ClassifierStore {
  const store = c.get('deps').classifiers;
  if (!store)
    throw new EdgeClipError('MODEL_NOT_READY', 'no label-set store (KV binding PROMPTS) is configured', {
      retryAfter: 60,
    });
  return store;
}

/**
 * Ad-hoc labels arrive as a JSON array, or in query/multipart fields as a JSON array or comma-separated text; a text
 * longer than `maxChars` (what the label limits allow) is refused before it is parsed or split.
 */
function listField(v: unknown, what: string, maxChars: number): string[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) return v as string[];
  if (typeof v !== 'string') throw invalid(`${what} must be an array of strings`);
  if (v.length > maxChars)
    throw new EdgeClipError(
      'PAYLOAD_TOO_LARGE',
      `${what} is ${v.length} characters; at most ${maxChars} (MAX_LABELS × MAX_TEXT_CHARS)`,
    );
  if (v.trim().startsWith('[')) {
    try {
      return JSON.parse(v) as string[];
    } catch {
      throw invalid(`${what} is not a valid JSON array`);
    }
  }
  return v.split(',').map((s) => s.trim());
}

/**
 * The request's options, validated: a JSON body, or for a raw/multipart image the query and form fields (strings,
 * with labels and templates as JSON arrays or comma-separated) checked by the same schema once normalized.
 */
function classifyInput(
  api: ApiSchemas,
): MiddlewareHandler<
  AppEnv,
  string,
  { out: { json: { options: v.InferOutput<ApiSchemas['ClassifyRequest']>; upload?: Uint8Array } } }
> {
  return async (c, next) => {
    const { config } = c.get('deps');
    // Every label at its longest, quoted and separated.
    const maxListChars = config.maxLabels * (config.maxTextChars + 3) + 2;
    const type = c.req.header('content-type') ?? '';
    // Labels and templates may come as arrays or as text (a JSON array, or comma-separated); an empty top_k is unset.
    const normalize = (o: Record<string, unknown>) => ({
      ...o,
      labels: listField(o.labels, 'labels', maxListChars),
      templates: listField(o.templates, 'templates', maxListChars),
      top_k: typeof o.top_k === 'string' ? (o.top_k.trim() === '' ? undefined : Number(o.top_k)) : o.top_k,
    });
    if (/^(image\/|multipart\/form-data|application\/octet-stream)/i.test(type)) {
      const upload = await readImageUpload(c.req.raw, config.maxBodyBytes);
      const fields = check(api.ClassifyQuery, { ...c.req.query(), ...upload.fields });
      c.req.addValidatedData('json', { options: check(api.ClassifyRequest, normalize(fields)), upload: upload.image });
    } else {
      const body = await readJson(c.req.raw, config.maxBodyBytes);
      c.req.addValidatedData('json', { options: check(api.ClassifyRequest, normalize(body)) });
    }
    await next();
  };
}

export function classifyRoutes(api: ApiSchemas) {
  return new Hono<AppEnv>().post(
    '/v1/classify',
    doc({
      summary:
        'Zero-shot labels for images against a stored label set or ad-hoc labels (JSON with data URIs, or one image raw/multipart with the options as query or form fields)',
      tag: 'classification',
      body: { json: api.ClassifyRequest },
      query: api.ClassifyQuery,
      ok: api.ClassifyResponse,
      errors: [400, 401, 404, 409, 413, 415, 422, 429, 502, 503, 504],
    }),
    classifyInput(api),
    async (c) => {
      const { config, model } = c.get('deps');
      const { options, upload } = c.req.valid('json');
      let images: Uint8Array[];
      if (upload) images = [upload];
      else if (options.images) images = await imageInputs(c, options.images, 'images');
      else images = await imageInputs(c, [options.image], 'image');
      const batch = !upload && options.images !== undefined;
      const modelId = await checkModel(c, options.model);
      const precision = await precisionFor(c, 'image', options.precision);
      const timing = c.get('timing');
      const pipeline = { timing, cache: c.get('cache'), signal: c.get('signal') };
      const manifest = await model.manifest();
      const labelsetName = options.labelset;
      const labels = options.labels;
      let classifier: Classifier;
      if (labelsetName) {
        if (labels) throw invalid('give either labelset or labels, not both');
        const store = requireStore(c);
        const stored = await timing.measure('labelset', () => store.get(manifest, labelsetName, precision));
        classifier = { weights: stored.weights, labels: stored.header.labels };
      } else if (labels) {
        const set = { name: 'ad-hoc', labels, templates: options.templates ?? DEFAULT_TEMPLATES };
        const built = await labelSetClassifier(model, set, {
          ...pipeline,
          precision,
          batch: PROMPT_BATCH,
          maxPromptChars: config.maxTextChars,
          maxComputed: {
            count: config.maxRequestPrompts,
            advice:
              'store the labels once as a label set (PUT /v1/labelsets/{name}, or edge-clip prompts build + upload) and classify with labelset',
          },
        });
        c.header('x-prompts-encoded', String(built.computed));
        classifier = built;
      } else {
        throw invalid('give labelset (a name from GET /v1/labelsets) or labels (an array)');
      }
      const imageOptions = {
        ...pipeline,
        orientation: options.orientation,
        maxPixels: config.maxImagePixels,
        maxDecodeBytes: config.maxDecodeBytes,
      };
      const topK = Math.min(options.top_k ?? 5, classifier.labels.length);
      const run = await withFallback(c, precision, options.fallback, (p) =>
        classifyImages(model, images, classifier, { ...imageOptions, precision: p, topK }),
      );
      const results = run.result;
      c.header('x-precision', run.precision);
      const answer = {
        model: modelId,
        labelset: labelsetName || null,
        precision: run.precision,
        ...(run.degraded ? { degraded: true } : {}),
      };
      return c.json(
        batch
          ? { ...answer, data: results.map((r, index) => ({ index, results: r })) }
          : { ...answer, results: results[0] },
      );
    },
  );
}
