/** What the inference routes share beyond validation (schemas.ts): the model check, image uploads, fallback. */
import type { Context } from 'hono';
import { decodeBase64 } from '../contracts/base64.ts';
import { EdgeClipError, quoteInput } from '../contracts/errors.ts';
import type { Precision, TowerName } from '../contracts/manifest.ts';
import type { AppEnv } from './app-env.ts';
import { fetchImage } from './image-url.ts';
import { readBody } from './request-body.ts';

export const invalid = (message: string) => new EdgeClipError('INVALID_INPUT', message);

/** The precision asked for (validated by the schema), else the configured default: one this build has. */
export async function precisionFor(
  c: Context<AppEnv>,
  tower: TowerName,
  requested: Precision | undefined,
): Promise<Precision> {
  const { config, model } = c.get('deps');
  const precision = requested ?? config.defaultPrecision;
  const manifest = await model.manifest();
  if (!manifest.towers[tower][precision]) {
    const have = Object.keys(manifest.towers[tower]).join(', ');
    throw invalid(`this build has no ${precision} ${tower} tower (it has ${have})`);
  }
  return precision;
}

export async function checkModel(c: Context<AppEnv>, model: unknown): Promise<string> {
  const { modelId } = await c.get('deps').model.manifest();
  if (model !== undefined && model !== modelId) {
    throw new EdgeClipError(
      'NOT_FOUND',
      `model ${quoteInput(model)} is not served here (this worker serves ${modelId})`,
    );
  }
  return modelId;
}

const DATA_URI = /^data:(image\/[\w.+-]+)?(;[\w=.-]+)*;base64,/i;

/**
 * A request's images given as data URIs or URLs, in order. URLs are fetched one at a time, all of them together
 * within the body limit (as if their bytes had come in the body) and each within its time limit.
 */
export async function imageInputs(
  c: Context<AppEnv>,
  inputs: readonly unknown[],
  field: string,
): Promise<Uint8Array[]> {
  const { config } = c.get('deps');
  const limits = { policy: config.imageUrls, timeoutMs: config.imageUrlTimeoutMs, signal: c.get('signal') };
  let budget = config.maxBodyBytes;
  const images: Uint8Array[] = [];
  for (const [i, s] of inputs.entries()) {
    const where = inputs.length === 1 && field !== 'input' ? field : `${field}[${i}]`;
    const m = typeof s === 'string' ? DATA_URI.exec(s) : null;
    if (m) images.push(decodeBase64((s as string).slice(m[0].length)));
    else if (typeof s === 'string' && /^https?:\/\//i.test(s))
      images.push(await fetchImage(s, where, Math.max(budget, 0), limits));
    else throw invalid(`${where} must be a data:image/...;base64, URI or an https:// URL of an image`);
    budget -= images[images.length - 1].length;
  }
  return images;
}

/** An image sent raw (image/*, octet-stream) or as the multipart field `image`; other multipart fields come along. */
export async function readImageUpload(
  req: Request,
  maxBytes: number,
): Promise<{ image: Uint8Array; fields: Record<string, string> }> {
  const type = req.headers.get('content-type') ?? '';
  const bytes = await readBody(req, maxBytes);
  let image: Uint8Array;
  const fields: Record<string, string> = {};
  if (/^image\//i.test(type) || /^application\/octet-stream/i.test(type)) {
    image = bytes;
  } else if (/^multipart\/form-data/i.test(type)) {
    let form: FormData;
    try {
      form = await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }).formData();
    } catch {
      throw invalid('malformed multipart/form-data body');
    }
    const file: unknown = form.get('image');
    if (!(file instanceof Blob)) throw invalid('multipart body needs a file field named "image"');
    image = new Uint8Array(await file.arrayBuffer());
    form.forEach((v, k) => {
      if (typeof v === 'string') fields[k] = v;
    });
  } else {
    throw new EdgeClipError(
      'UNSUPPORTED_MEDIA_TYPE',
      `send the image as image/* or multipart/form-data (got ${type ? quoteInput(type) : 'no content type'})`,
    );
  }
  if (image.length === 0) throw new EdgeClipError('UNPROCESSABLE_IMAGE', 'empty image');
  return { image, fields };
}

/** Errors that mean "this precision cannot be served now" (not "this request is bad"): fallback territory. */
const UNSERVABLE = new Set<string>(['ORIGIN_UNAVAILABLE', 'MODEL_NOT_READY', 'SHARD_INTEGRITY', 'SEGMENT_UNAVAILABLE']);

/**
 * Runs `fn` at `precision`; when that precision cannot be served (GPU origin down, shards missing or corrupt) and the
 * caller allowed `fallback: "int8"`, runs it at int8 here instead and says so (`degraded`). fp32 is never silently
 * replaced otherwise.
 */
export async function withFallback<T>(
  c: Context<AppEnv>,
  precision: Precision,
  fallback: 'int8' | 'none' | undefined,
  fn: (p: Precision) => Promise<T>,
): Promise<{ result: T; precision: Precision; degraded: boolean }> {
  try {
    return { result: await fn(precision), precision, degraded: false };
  } catch (e) {
    if (!(e instanceof EdgeClipError && UNSERVABLE.has(e.code)) || fallback !== 'int8' || precision === 'int8') throw e;
    // A header value: the reason in printable ASCII (an origin's answer may quote anything), at most 200 characters.
    c.header('x-degraded', e.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200));
    // X-Cache describes the answer given, not the attempt that failed.
    c.get('cache').reset();
    return { result: await fn('int8'), precision: 'int8', degraded: true };
  }
}
