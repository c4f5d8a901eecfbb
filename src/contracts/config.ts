/** App configuration: parsed and validated once from wrangler vars or process.env, then frozen. */
import { EdgeClipError } from './errors.ts';
import { PRECISIONS, type Precision } from './manifest.ts';

/** The GPU origin that serves fp32 (Open Inference Protocol v2). */
export interface OriginConfig {
  url: string;
  token?: string;
  timeoutMs: number;
  /** Model names on the origin: `<prefix>_image`, `<prefix>_text` (the Triton export writes the same). */
  modelPrefix: string;
  breakerThreshold: number;
  breakerCooldownMs: number;
}

export interface AppConfig {
  /** R2 prefix of the build to serve (the build folder name under model-shards/). */
  modelId: string;
  /** Precision used when a request names none. */
  defaultPrecision: Precision;
  /** Request bodies larger than this are refused with 413. */
  maxBodyBytes: number;
  /** Images whose header declares more pixels are refused with 413 before decoding. */
  maxImagePixels: number;
  /** Inputs per request. */
  maxInputs: number;
  /** Characters per text input (longer texts are refused; texts over the context length are truncated). */
  maxTextChars: number;
  /** Shards fetched from R2 at once while loading a tower. */
  fetchConcurrency: number;
  /** Ad-hoc labels per classify request. */
  maxLabels: number;
  /** Prompts a label set may have to be computed at the edge (PUT /v1/labelsets with JSON). */
  maxEdgePrompts: number;
  /** Uncached ad-hoc prompts one classify request may compute (each holds the isolate; label sets avoid it). */
  maxRequestPrompts: number;
  /** Bearer token of the admin routes (a Worker secret); admin routes are refused when unset. */
  adminToken: string | undefined;
  /** The GPU origin for fp32 (Open Inference Protocol); without it fp32 runs here from the fp32 shards. */
  origin: OriginConfig | undefined;
  /** Seconds an embedding stays in the Workers Cache API (0: not stored there). */
  cacheTtlSeconds: number;
  /** Embeddings kept in the isolate's own LRU (0: none). */
  memoryCacheEntries: number;
  /** int8 towers run in segment Workers reached through SEG_<TOWER>_<k> service bindings (SEGMENTED = "true"). */
  segmented: boolean;
}

const int = (env: Record<string, unknown>, key: string, fallback: number, min = 1): number => {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min)
    throw new EdgeClipError('INTERNAL', `configuration ${key} must be an integer ≥ ${min} (got ${String(raw)})`);
  return v;
};

/** `env` is the Worker's bindings object or process.env; only its string entries are read. */
export function parseConfig(bindings: object): AppConfig {
  const env = bindings as Record<string, unknown>;
  const modelId = env.MODEL_ID;
  if (typeof modelId !== 'string' || modelId === '')
    throw new EdgeClipError('INTERNAL', 'configuration MODEL_ID is missing');
  const precision = (env.DEFAULT_PRECISION as string | undefined) ?? 'int8';
  if (!(PRECISIONS as readonly string[]).includes(precision))
    throw new EdgeClipError('INTERNAL', `configuration DEFAULT_PRECISION ${precision} is unknown`);
  return Object.freeze({
    modelId,
    defaultPrecision: precision as Precision,
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 20 * 1024 * 1024),
    maxImagePixels: int(env, 'MAX_IMAGE_PIXELS', 40_000_000),
    maxInputs: int(env, 'MAX_INPUTS', 32),
    maxTextChars: int(env, 'MAX_TEXT_CHARS', 2048),
    fetchConcurrency: int(env, 'FETCH_CONCURRENCY', 6),
    maxLabels: int(env, 'MAX_LABELS', 256),
    maxEdgePrompts: int(env, 'MAX_EDGE_PROMPTS', 2000),
    maxRequestPrompts: int(env, 'MAX_REQUEST_PROMPTS', 64),
    cacheTtlSeconds: int(env, 'CACHE_TTL_SECONDS', 7 * 24 * 3600, 0),
    memoryCacheEntries: int(env, 'MEMORY_CACHE_ENTRIES', 1024, 0),
    segmented: env.SEGMENTED === 'true' || env.SEGMENTED === true,
    adminToken: typeof env.ADMIN_TOKEN === 'string' && env.ADMIN_TOKEN !== '' ? env.ADMIN_TOKEN : undefined,
    origin:
      typeof env.ORIGIN_URL === 'string' && env.ORIGIN_URL !== ''
        ? {
            url: env.ORIGIN_URL,
            token: typeof env.ORIGIN_TOKEN === 'string' && env.ORIGIN_TOKEN !== '' ? env.ORIGIN_TOKEN : undefined,
            timeoutMs: int(env, 'ORIGIN_TIMEOUT_MS', 10_000),
            modelPrefix:
              typeof env.ORIGIN_MODEL_PREFIX === 'string' && env.ORIGIN_MODEL_PREFIX !== ''
                ? env.ORIGIN_MODEL_PREFIX
                : 'edgeclip',
            breakerThreshold: int(env, 'ORIGIN_BREAKER_FAILURES', 3),
            breakerCooldownMs: int(env, 'ORIGIN_BREAKER_COOLDOWN_MS', 30_000),
          }
        : undefined,
  });
}
