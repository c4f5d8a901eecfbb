/**
 * Every setting of the three servers, validated in one place: the Worker and a segment Worker (wrangler vars and
 * secrets) and the GPU origin (process.env). A bad value stops startup with a message naming the setting.
 */
import { EdgeClipError } from './errors.ts';
import { PRECISIONS, type Precision, TOWERS, type TowerName } from './manifest.ts';

/** The isolate's queue in front of its towers (src/model/scheduler.ts, text-batcher.ts). */
export interface QueueSettings {
  /** A request is refused (503 + Retry-After) when its text / image work would wait longer than this to start (ms). */
  maxTextWaitMs: number;
  maxImageWaitMs: number;
  /** The least share of the thread (percent of recent tower work) images get while they wait, so they never starve. */
  imageSharePercent: number;
  /** Bounds of one prompt batch: rows, and padded tokens (rows × the longest). */
  batchRows: number;
  batchTokens: number;
}

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
  /** JSON bodies that cannot carry an image (a label set's labels and templates) larger than this are refused with 413. */
  maxJsonBytes: number;
  /** Images whose header declares more pixels are refused with 413 before decoding. */
  maxImagePixels: number;
  /** Images whose decoding would need more memory (estimated from the header and format) are refused with 413. */
  maxDecodeBytes: number;
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
  /** Keys that inference routes require as `Authorization: Bearer <key>` (the API_KEYS secret); open when empty. */
  apiKeys: readonly string[];
  /** Origins a browser page may call the API from (CORS); `*` for any; none when empty. */
  corsOrigins: readonly string[];
  /** The rate limiter's period in seconds (10 or 60, as the binding's `simple.period`): the Retry-After of a 429. */
  rateLimitPeriodSeconds: number;
  /** Image inputs given as URLs: "https" (public https hosts), "any" (http and local hosts too: local use), "off". */
  imageUrls: 'https' | 'any' | 'off';
  /** Time allowed to fetch one image URL, redirects included. */
  imageUrlTimeoutMs: number;
  /** What runs the int8 image tower in this isolate: onnxruntime-web sessions, or our kernels (src/kernels, #26). */
  imageEngine: 'onnxruntime' | 'kernels';
  /** What runs the int8 text tower in this isolate, as `imageEngine`. */
  textEngine: 'onnxruntime' | 'kernels';
  /** The GPU origin for fp32 (Open Inference Protocol); without it fp32 runs here from the fp32 shards. */
  origin: OriginConfig | undefined;
  /** Seconds an embedding stays in the Workers Cache API (0: not stored there). */
  cacheTtlSeconds: number;
  /** Embeddings kept in the isolate's own LRU (0: none). */
  memoryCacheEntries: number;
  /** Seconds a prompt's embedding stays in KV (ad-hoc labels; KV's minimum is 60). */
  promptCacheTtlSeconds: number;
  /** int8 towers run in segment Workers reached through SEG_<TOWER>_<k> service bindings (SEGMENTED = "true"). */
  segmented: boolean;
  /** The isolate's queue in front of its towers: shedding bounds and prompt batch bounds. */
  queue: QueueSettings;
  /** No request waits longer than this (ms): it is answered 503 with Retry-After instead. */
  requestTimeoutMs: number;
}

/** Reads string settings from a Worker's bindings or process.env; other binding kinds are ignored. */
class Settings {
  private readonly env: Record<string, unknown>;

  constructor(bindings: object) {
    this.env = bindings as Record<string, unknown>;
  }

  private invalid(key: string, want: string, raw: unknown): EdgeClipError {
    return new EdgeClipError('CONFIG_INVALID', `configuration ${key} must be ${want} (got ${JSON.stringify(raw)})`);
  }

  /** The value, or undefined when unset or empty. */
  optional(key: string): string | undefined {
    const raw = this.env[key];
    if (raw === undefined || raw === '') return undefined;
    if (typeof raw !== 'string') throw this.invalid(key, 'a string', raw);
    return raw;
  }

  required(key: string): string {
    const v = this.optional(key);
    if (v === undefined) throw new EdgeClipError('CONFIG_INVALID', `configuration ${key} is missing`);
    return v;
  }

  /** Without a fallback the setting is required. */
  int(key: string, fallback: number | undefined, min = 1): number {
    const raw = fallback === undefined ? this.required(key) : this.optional(key);
    if (raw === undefined) return fallback as number;
    const v = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min)
      throw this.invalid(key, `an integer ≥ ${min}`, raw);
    return v;
  }

  /** Without a fallback the setting is required. */
  oneOf<T extends string>(key: string, values: readonly T[], fallback?: T): T {
    const raw = fallback === undefined ? this.required(key) : (this.optional(key) ?? fallback);
    if (!(values as readonly string[]).includes(raw)) throw this.invalid(key, `one of ${values.join(', ')}`, raw);
    return raw as T;
  }

  bool(key: string): boolean {
    return this.oneOf(key, ['true', 'false'], 'false') === 'true';
  }

  /** An http(s) URL, or undefined when unset. */
  url(key: string): URL | undefined {
    const raw = this.optional(key);
    if (raw === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {}
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw this.invalid(key, 'an http(s) URL', raw);
    return url;
  }
}

/** Hosts on this machine: the only place plain http and an origin without a token are acceptable. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The GPU origin off this machine must be reached over https with a bearer token: over http the token and the
 * embeddings travel in clear, and without a token anyone who finds the origin can use it past every edge limit.
 */
function checkOriginUrl(url: URL, token: string | undefined): void {
  if (isLoopback(url.hostname)) return;
  if (url.protocol !== 'https:')
    throw new EdgeClipError(
      'CONFIG_INVALID',
      `configuration ORIGIN_URL must be https off loopback (got ${url.origin})`,
    );
  if (!token)
    throw new EdgeClipError(
      'CONFIG_INVALID',
      'configuration ORIGIN_TOKEN is missing: an origin off loopback needs a bearer token (npx wrangler secret put ORIGIN_TOKEN)',
    );
}

/**
 * Every default, by setting name: the only place they are written. wrangler.toml sets only what differs (a test
 * compares the two), and tools that need a limit outside a server (the CLI's preprocess) read it here.
 */
export const DEFAULTS = {
  DEFAULT_PRECISION: 'int8',
  MAX_BODY_BYTES: 20 * 1024 * 1024,
  MAX_JSON_BYTES: 1024 * 1024,
  MAX_IMAGE_PIXELS: 12_000_000,
  MAX_DECODE_BYTES: 64 * 1024 * 1024,
  MAX_INPUTS: 32,
  MAX_TEXT_CHARS: 2048,
  FETCH_CONCURRENCY: 6,
  MAX_LABELS: 256,
  MAX_EDGE_PROMPTS: 2000,
  MAX_REQUEST_PROMPTS: 64,
  CACHE_TTL_SECONDS: 7 * 24 * 3600,
  MEMORY_CACHE_ENTRIES: 1024,
  PROMPT_CACHE_TTL_SECONDS: 30 * 24 * 3600,
  MAX_TEXT_WAIT_MS: 600,
  MAX_IMAGE_WAIT_MS: 10_000,
  IMAGE_SHARE_PERCENT: 35,
  TEXT_BATCH_ROWS: 8,
  TEXT_BATCH_TOKENS: 128,
  REQUEST_TIMEOUT_MS: 300_000,
  RATE_LIMIT_PERIOD_SECONDS: 60,
  IMAGE_URLS: 'https',
  IMAGE_URL_TIMEOUT_MS: 10_000,
  IMAGE_ENGINE: 'kernels',
  TEXT_ENGINE: 'kernels',
  ORIGIN_TIMEOUT_MS: 10_000,
  ORIGIN_MODEL_PREFIX: 'edgeclip',
  ORIGIN_BREAKER_FAILURES: 3,
  ORIGIN_BREAKER_COOLDOWN_MS: 30_000,
  ORIGIN_HOST: '127.0.0.1',
  ORIGIN_PORT: 8790,
  ORIGIN_MAX_BATCH: 16,
  ORIGIN_BATCH_WINDOW_MS: 4,
  ORIGIN_DEVICE: 'auto',
} as const;

/** KV expires entries no sooner than 60 s: 0 turns the prompt tier off, anything else is at least 60. */
function promptTtl(env: Settings): number {
  const ttl = env.int('PROMPT_CACHE_TTL_SECONDS', DEFAULTS.PROMPT_CACHE_TTL_SECONDS, 0);
  if (ttl > 0 && ttl < 60)
    throw new EdgeClipError(
      'CONFIG_INVALID',
      `configuration PROMPT_CACHE_TTL_SECONDS must be 0 or at least 60 (got ${ttl})`,
    );
  return ttl;
}

function percent(env: Settings, key: 'IMAGE_SHARE_PERCENT'): number {
  const v = env.int(key, DEFAULTS[key], 0);
  if (v > 100) throw new EdgeClipError('CONFIG_INVALID', `configuration ${key} must be from 0 to 100 (got ${v})`);
  return v;
}

/** The admin bearer token, when set: long enough that guessing it is not an option (32+ characters, e.g. 24 random bytes in base64). */
function adminToken(env: Settings): string | undefined {
  const token = env.optional('ADMIN_TOKEN');
  if (token !== undefined && token.length < MIN_ADMIN_TOKEN_CHARS)
    throw new EdgeClipError(
      'CONFIG_INVALID',
      `configuration ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_CHARS} characters (got ${token.length}); e.g. openssl rand -base64 24`,
    );
  return token;
}

const MIN_ADMIN_TOKEN_CHARS = 32;

/** API keys, comma- or whitespace-separated, each as long as an admin token must be (they guard the same work). */
function apiKeys(env: Settings): string[] {
  const keys = (env.optional('API_KEYS') ?? '').split(/[\s,]+/).filter(Boolean);
  const short = keys.findIndex((k) => k.length < MIN_ADMIN_TOKEN_CHARS);
  if (short >= 0)
    throw new EdgeClipError(
      'CONFIG_INVALID',
      `configuration API_KEYS: key ${short + 1} is ${keys[short].length} characters; each must be at least ${MIN_ADMIN_TOKEN_CHARS} (e.g. openssl rand -base64 24)`,
    );
  return keys;
}

/** The Worker's settings (wrangler.toml [vars] and secrets). */
export function parseConfig(bindings: object): AppConfig {
  const env = new Settings(bindings);
  const originUrl = env.url('ORIGIN_URL');
  const originToken = env.optional('ORIGIN_TOKEN');
  if (originUrl) checkOriginUrl(originUrl, originToken);
  const int = (key: keyof typeof DEFAULTS, min?: number) => env.int(key, DEFAULTS[key] as number, min);
  return Object.freeze({
    modelId: env.required('MODEL_ID'),
    defaultPrecision: env.oneOf('DEFAULT_PRECISION', PRECISIONS, DEFAULTS.DEFAULT_PRECISION),
    maxBodyBytes: int('MAX_BODY_BYTES'),
    maxJsonBytes: int('MAX_JSON_BYTES'),
    maxImagePixels: int('MAX_IMAGE_PIXELS'),
    maxDecodeBytes: int('MAX_DECODE_BYTES'),
    maxInputs: int('MAX_INPUTS'),
    maxTextChars: int('MAX_TEXT_CHARS'),
    fetchConcurrency: int('FETCH_CONCURRENCY'),
    maxLabels: int('MAX_LABELS'),
    maxEdgePrompts: int('MAX_EDGE_PROMPTS'),
    maxRequestPrompts: int('MAX_REQUEST_PROMPTS'),
    cacheTtlSeconds: int('CACHE_TTL_SECONDS', 0),
    memoryCacheEntries: int('MEMORY_CACHE_ENTRIES', 0),
    promptCacheTtlSeconds: promptTtl(env),
    segmented: env.bool('SEGMENTED'),
    queue: {
      maxTextWaitMs: int('MAX_TEXT_WAIT_MS'),
      maxImageWaitMs: int('MAX_IMAGE_WAIT_MS'),
      imageSharePercent: percent(env, 'IMAGE_SHARE_PERCENT'),
      batchRows: int('TEXT_BATCH_ROWS'),
      batchTokens: int('TEXT_BATCH_TOKENS'),
    },
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS'),
    adminToken: adminToken(env),
    apiKeys: apiKeys(env),
    imageUrls: env.oneOf('IMAGE_URLS', ['https', 'any', 'off'] as const, DEFAULTS.IMAGE_URLS),
    imageUrlTimeoutMs: int('IMAGE_URL_TIMEOUT_MS'),
    imageEngine: env.oneOf('IMAGE_ENGINE', ['onnxruntime', 'kernels'] as const, DEFAULTS.IMAGE_ENGINE),
    textEngine: env.oneOf('TEXT_ENGINE', ['onnxruntime', 'kernels'] as const, DEFAULTS.TEXT_ENGINE),
    corsOrigins: (env.optional('CORS_ORIGINS') ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    rateLimitPeriodSeconds: Number(
      env.oneOf('RATE_LIMIT_PERIOD_SECONDS', ['10', '60'], String(DEFAULTS.RATE_LIMIT_PERIOD_SECONDS)),
    ),
    origin: originUrl
      ? {
          url: originUrl.href.replace(/\/$/, ''),
          token: originToken,
          timeoutMs: int('ORIGIN_TIMEOUT_MS'),
          modelPrefix: env.optional('ORIGIN_MODEL_PREFIX') ?? DEFAULTS.ORIGIN_MODEL_PREFIX,
          breakerThreshold: int('ORIGIN_BREAKER_FAILURES'),
          breakerCooldownMs: int('ORIGIN_BREAKER_COOLDOWN_MS'),
        }
      : undefined,
  });
}

/** A segment Worker's settings: which build, and which segment of which tower it serves. */
export interface SegmentConfig {
  modelId: string;
  tower: TowerName;
  index: number;
  precision: Precision;
  /** What runs an int8 segment: our kernels (the default, as IMAGE_ENGINE / TEXT_ENGINE) or an onnxruntime-web session. */
  engine: 'onnxruntime' | 'kernels';
}

export function parseSegmentConfig(bindings: object): SegmentConfig {
  const env = new Settings(bindings);
  return Object.freeze({
    modelId: env.required('MODEL_ID'),
    tower: env.oneOf('SEGMENT_TOWER', TOWERS),
    index: env.int('SEGMENT_INDEX', undefined, 0),
    precision: env.oneOf('SEGMENT_PRECISION', PRECISIONS, 'int8'),
    engine: env.oneOf('SEGMENT_ENGINE', ['onnxruntime', 'kernels'] as const, 'kernels'),
  });
}

/** The GPU origin server's settings (`npm run origin`). */
export interface OriginServerConfig {
  /** The build folder (model-shards/<id>). */
  modelDir: string;
  host: string;
  port: number;
  token: string | undefined;
  /** Rows per batch; 1 turns dynamic batching off. */
  maxBatch: number;
  windowMs: number;
  device: 'auto' | 'cpu' | 'cuda';
  modelPrefix: string;
}

export function parseOriginServerConfig(environment: object, modelDirArgument?: string): OriginServerConfig {
  const env = new Settings(environment);
  const modelDir = env.optional('ORIGIN_MODEL_DIR') ?? modelDirArgument;
  if (!modelDir) throw new EdgeClipError('CONFIG_INVALID', 'configuration ORIGIN_MODEL_DIR is missing');
  const host = env.optional('ORIGIN_HOST') ?? DEFAULTS.ORIGIN_HOST;
  // Bound to other machines, the origin answers only with a token: it has none of the edge's limits in front of it.
  if (!isLoopback(host) && !env.optional('ORIGIN_TOKEN'))
    throw new EdgeClipError(
      'CONFIG_INVALID',
      `configuration ORIGIN_TOKEN is missing: the origin binds ${host}, beyond loopback, and would serve anyone`,
    );
  return Object.freeze({
    modelDir,
    host,
    port: env.int('ORIGIN_PORT', DEFAULTS.ORIGIN_PORT, 0),
    token: env.optional('ORIGIN_TOKEN'),
    maxBatch: env.int('ORIGIN_MAX_BATCH', DEFAULTS.ORIGIN_MAX_BATCH),
    windowMs: env.int('ORIGIN_BATCH_WINDOW_MS', DEFAULTS.ORIGIN_BATCH_WINDOW_MS, 0),
    device: env.oneOf('ORIGIN_DEVICE', ['auto', 'cpu', 'cuda'] as const, DEFAULTS.ORIGIN_DEVICE),
    modelPrefix: env.optional('ORIGIN_MODEL_PREFIX') ?? DEFAULTS.ORIGIN_MODEL_PREFIX,
  });
}
