/** The one error type of edge-clip: a code, the HTTP status it maps to, and whether clients may see the message. */

export const ERROR_STATUS = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  STALE_LABELSET: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_IMAGE: 422,
  INTERNAL: 500,
  INFERENCE_FAILED: 500,
  BAD_CHECKPOINT: 500,
  BAD_MANIFEST: 502,
  SHARD_INTEGRITY: 503,
  MODEL_NOT_READY: 503,
  DOWNLOAD_FAILED: 502,
  ORIGIN_UNAVAILABLE: 503,
  SEGMENT_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class EdgeClipError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds a client should wait before retrying (503s). */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeClipError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfter = options?.retryAfter;
  }

  /** The JSON body every route answers errors with. */
  toJSON(): { error: { type: string; message: string } } {
    return { error: { type: this.code.toLowerCase(), message: this.message } };
  }
}

/** Client input quoted in an error message: at most `max` characters, so a huge field is never echoed back whole. */
export function quoteInput(v: unknown, max = 100): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return s.length <= max ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, max))}… (${s.length} characters)`;
}

export const isEdgeClipError = (e: unknown): e is EdgeClipError => e instanceof EdgeClipError;
