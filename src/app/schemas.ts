/**
 * Every route's request and response bodies, defined once (valibot): requests are validated with them
 * (`validate.ts`) and the OpenAPI document at GET /openapi.json is generated from them, limits included. The limits
 * come from the Worker's settings, so the schemas are made per app.
 */
import * as v from 'valibot';
import type { AppConfig } from '../contracts/config.ts';
import { DEFAULT_TEMPLATES } from '../contracts/labelset.ts';
import { PRECISIONS } from '../contracts/manifest.ts';
import { withinLimit } from './validate.ts';

const precision = v.picklist(PRECISIONS, `precision must be one of ${PRECISIONS.join(', ')}`);
const fallback = v.picklist(['int8', 'none'], 'fallback must be "int8" or "none"');
const orientation = v.picklist(['ignore', 'exif'], 'orientation must be "ignore" or "exif"');
const encodingFormat = v.picklist(['float', 'base64'], 'encoding_format must be "float" or "base64"');
const model = v.pipe(v.string('model must be a string'), v.description('the served model id (GET /v1/models)'));
const TOP_K = 'top_k must be an integer from 1 to 1000';

/** Options every inference route takes, in its JSON body or its query. */
const inferenceOptions = {
  model: v.optional(model),
  precision: v.optional(precision),
  fallback: v.optional(fallback),
  orientation: v.optional(orientation),
};

export const ErrorBody = v.object({
  error: v.object({
    type: v.pipe(v.string(), v.description('the error code in lower case, e.g. invalid_input, payload_too_large')),
    message: v.pipe(v.string(), v.description('what went wrong; quotes at most 100 characters of any input')),
  }),
});

const LabelScore = v.object({ label: v.string(), index: v.number(), score: v.number() });

/** The way to a label set too large to compute at the edge. */
const BUILD_AND_UPLOAD =
  'build the set with edge-clip prompts build and upload the blob (PUT /v1/labelsets/{name}, application/octet-stream)';

export function apiSchemas(config: AppConfig) {
  /** A non-empty list of at most `max` items. */
  const list = (item: v.GenericSchema<string>, what: string, max: number, tooMany: (received: string) => string) =>
    v.pipe(
      v.array(item),
      v.minLength(1, `${what}s must be a non-empty array`),
      v.maxLength(max, (issue) => tooMany(issue.received)),
    );
  const tooManyAtTheEdge = (what: string, n: string) =>
    `at most ${config.maxEdgePrompts} ${what} are computed at the edge (got ${n}); ${BUILD_AND_UPLOAD}`;
  /** labels × templates: every prompt of a label set computed at the edge holds the isolate for a text tower run. */
  const promptLimit = <T extends { labels?: string[]; classnames?: string[]; templates?: string[] }>() =>
    withinLimit<T>((o) => {
      const n = (o.labels ?? o.classnames ?? []).length * (o.templates ?? DEFAULT_TEMPLATES).length;
      return n > config.maxEdgePrompts
        ? `${n} prompts (labels × templates) is more than the ${config.maxEdgePrompts} computed at the edge; ${BUILD_AND_UPLOAD}`
        : undefined;
    });
  const label = v.pipe(
    v.string('every label must be a string'),
    v.maxLength(config.maxTextChars),
    v.check((s) => s.trim() !== '', 'labels must be non-empty strings'),
  );
  const template = v.pipe(
    v.string('every template must be a string'),
    v.maxLength(config.maxTextChars),
    v.includes('{c}', 'templates must be strings containing {c}'),
  );
  const templates = list(
    template,
    'template',
    config.maxEdgePrompts,
    (n) => `at most ${config.maxEdgePrompts} templates (got ${n})`,
  );

  /** One input or a non-empty list of them, each checked by `item`. */
  const inputs = (item: v.GenericSchema<string>) =>
    v.union(
      [
        item,
        v.pipe(
          v.array(item),
          v.minLength(1, 'input must be a string or a non-empty array of strings'),
          v.maxLength(config.maxInputs, (i) => `at most ${config.maxInputs} inputs per request (got ${i.received})`),
        ),
      ],
      'input must be a string or a non-empty array of strings',
    );
  const embeddingOptions = {
    encoding_format: v.optional(encodingFormat),
    // OpenAI's: only the model's own width is accepted (it is not Matryoshka-trained; cut rows would silently degrade).
    dimensions: v.optional(
      v.pipe(
        v.number('dimensions must be a number'),
        v.integer('dimensions must be an integer'),
        v.description("the model's embedding width; any other value is refused"),
      ),
    ),
    // OpenAI's end-user id: accepted and not used.
    user: v.optional(v.pipe(v.string('user must be a string'), v.maxLength(256))),
    ...inferenceOptions,
  };
  // Texts are limited in characters; images (data URIs) only by the body size.
  const EmbeddingsRequest = v.variant(
    'modality',
    [
      v.object({
        input: inputs(v.pipe(v.string('every input must be a string'), v.maxLength(config.maxTextChars))),
        modality: v.optional(v.literal('text')),
        ...embeddingOptions,
      }),
      v.object({
        input: inputs(
          v.pipe(
            v.string('every input must be a string'),
            v.description('a data:image/...;base64, URI or an https:// URL of an image'),
          ),
        ),
        modality: v.literal('image'),
        ...embeddingOptions,
      }),
    ],
    'modality must be "text" or "image"',
  );

  const Usage = v.object({
    prompt_tokens: v.optional(v.number()),
    total_tokens: v.optional(v.number()),
    truncated_inputs: v.optional(v.array(v.number())),
    images: v.optional(v.number()),
  });
  const EmbeddingsResponse = v.object({
    object: v.literal('list'),
    data: v.array(
      v.object({
        object: v.literal('embedding'),
        index: v.number(),
        embedding: v.union([v.array(v.number()), v.pipe(v.string(), v.description('base64 of little-endian float32'))]),
      }),
    ),
    model: v.string(),
    precision,
    degraded: v.optional(v.boolean()),
    usage: Usage,
  });

  const ImageQuery = v.object({ ...inferenceOptions, encoding_format: v.optional(encodingFormat) });
  const PreprocessQuery = v.object({ orientation: v.optional(orientation) });

  const labels = list(
    label,
    'label',
    config.maxLabels,
    (n) => `at most ${config.maxLabels} ad-hoc labels (got ${n}); upload a label set instead`,
  );
  const ClassifyOptions = v.object({
    image: v.optional(v.pipe(v.string(), v.description('a data:image/...;base64, URI or an https:// URL of an image'))),
    images: v.optional(
      v.pipe(
        v.array(v.string()),
        v.minLength(1, 'images must be a non-empty array of data URIs or image URLs'),
        v.maxLength(config.maxInputs, `at most ${config.maxInputs} images per request`),
      ),
    ),
    labelset: v.optional(v.string()),
    labels: v.optional(labels),
    templates: v.optional(templates),
    top_k: v.optional(v.pipe(v.number(TOP_K), v.integer(TOP_K), v.minValue(1, TOP_K), v.maxValue(1000, TOP_K))),
    ...inferenceOptions,
  });
  const ClassifyRequest = v.pipe(ClassifyOptions, promptLimit<v.InferOutput<typeof ClassifyOptions>>());
  // Raw and multipart uploads carry the same options as query parameters or form fields: strings.
  const ClassifyQuery = v.object({
    labelset: v.optional(v.string()),
    labels: v.optional(v.pipe(v.string(), v.description('a JSON array, or comma-separated labels'))),
    templates: v.optional(v.pipe(v.string(), v.description('a JSON array, or comma-separated templates'))),
    top_k: v.optional(v.pipe(v.string(), v.regex(/^\s*\d{0,9}\s*$/, TOP_K))),
    ...inferenceOptions,
  });
  const ClassifyResponse = v.object({
    model: v.string(),
    labelset: v.nullable(v.string()),
    precision,
    degraded: v.optional(v.boolean()),
    results: v.optional(v.array(LabelScore)),
    data: v.optional(v.array(v.object({ index: v.number(), results: v.array(LabelScore) }))),
  });

  const LabelsetFields = v.object({
    labels: v.optional(list(label, 'label', config.maxEdgePrompts, (n) => tooManyAtTheEdge('labels', n))),
    classnames: v.optional(list(label, 'classname', config.maxEdgePrompts, (n) => tooManyAtTheEdge('classnames', n))),
    templates: v.optional(templates),
    precision: v.optional(precision),
  });
  const LabelsetPut = v.pipe(
    LabelsetFields,
    v.check((o) => (o.labels ?? o.classnames) !== undefined, 'labels must be a non-empty array of non-empty strings'),
    promptLimit<v.InferOutput<typeof LabelsetFields>>(),
  );
  // Strict: an unknown parameter is a 400 naming it, not an option silently not applied.
  const LabelsetQuery = v.strictObject({ precision: v.optional(precision) });
  const LabelsetList = v.object({
    model: v.string(),
    build_hash: v.string(),
    data: v.array(v.object({ name: v.string(), precision, build_hash: v.string(), stale: v.boolean() })),
  });
  const LabelsetInfo = v.object({
    name: v.string(),
    labels: v.array(v.string()),
    templates: v.array(v.string()),
    dims: v.tuple([v.number(), v.number()]),
    dtype: v.picklist(['float16', 'float32']),
    build_hash: v.string(),
    precision,
    created_at: v.string(),
  });
  const LabelsetStored = v.object({
    name: v.string(),
    key: v.string(),
    labels: v.number(),
    prompts: v.optional(v.number()),
    encoded: v.optional(v.number()),
    computed: v.boolean(),
  });
  const LabelsetDeleted = v.object({ name: v.string(), deleted: v.number() });

  const Health = v.object({ status: v.literal('ok') });
  const Ready = v.object({
    status: v.literal('ready'),
    model: v.string(),
    build_hash: v.string(),
    origin: v.picklist(['ready', 'unavailable', 'not_configured']),
  });
  const Models = v.object({
    object: v.literal('list'),
    data: v.array(
      v.looseObject({
        id: v.string(),
        object: v.literal('model'),
        build_hash: v.string(),
        weights: v.picklist(['real', 'random']),
        embed_dim: v.number(),
        default_precision: precision,
        image_size: v.number(),
        context_length: v.number(),
        towers: v.record(v.string(), v.record(v.string(), v.looseObject({ loaded: v.boolean() }))),
      }),
    ),
  });

  return {
    EmbeddingsRequest,
    EmbeddingsResponse,
    ImageQuery,
    PreprocessQuery,
    ClassifyRequest,
    ClassifyQuery,
    ClassifyResponse,
    LabelsetPut,
    LabelsetList,
    LabelsetQuery,
    LabelsetInfo,
    LabelsetStored,
    LabelsetDeleted,
    Health,
    Ready,
    Models,
  };
}

export type ApiSchemas = ReturnType<typeof apiSchemas>;
