/**
 * The one error type of edge-clip: a code and, for the codes an HTTP client can receive, the status it maps to.
 * Callers tell errors apart by `code`, never by message.
 */

/** Codes an HTTP answer can carry, with their statuses. */
export const HTTP_ERROR_STATUS = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  STALE_LABELSET: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_IMAGE: 422,
  /** A client over its rate limit (the Workers Rate Limiting binding); comes with Retry-After. */
  RATE_LIMITED: 429,
  /** nginx's code: the client went away before the answer; nobody reads it, and it is not a server failure. */
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL: 500,
  INFERENCE_FAILED: 500,
  CONFIG_INVALID: 500,
  BAD_MANIFEST: 502,
  /** An image URL whose server failed us (unreachable, an error status, a dropped answer). */
  IMAGE_URL_FAILED: 502,
  /** An image URL whose server did not answer in time. */
  IMAGE_URL_TIMEOUT: 504,
  SHARD_INTEGRITY: 503,
  MODEL_NOT_READY: 503,
  ORIGIN_UNAVAILABLE: 503,
  SEGMENT_UNAVAILABLE: 503,
  /** Shed load: the work would wait longer than the isolate's bound; comes with Retry-After. */
  OVERLOADED: 503,
} as const satisfies Record<string, number>;

export type HttpErrorCode = keyof typeof HTTP_ERROR_STATUS;
/** Codes of the build tool and the CLI: they end in an exit status and a message, never in an HTTP answer. */
export type ToolErrorCode = 'BAD_CHECKPOINT' | 'DOWNLOAD_FAILED' | 'CHECKSUM_MISMATCH';
export type ErrorCode = HttpErrorCode | ToolErrorCode;

const isHttpCode = (code: ErrorCode): code is HttpErrorCode => Object.hasOwn(HTTP_ERROR_STATUS, code);

export class EdgeClipError extends Error {
  readonly code: ErrorCode;
  /** The HTTP status of an answer carrying this error (a tool code reaching HTTP is a bug: 500). */
  readonly status: number;
  /** Seconds a client should wait before retrying (503s). */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeClipError';
    this.code = code;
    this.status = isHttpCode(code) ? HTTP_ERROR_STATUS[code] : 500;
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

/** The first line of an error's message: what a person reads instead of a stack trace. */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}
