/** Reading request bodies with a size limit (checked against Content-Length first, then while streaming). */
import { EdgeClipError } from '../contracts/errors.ts';

const tooLarge = (max: number) => new EdgeClipError('PAYLOAD_TOO_LARGE', `request body exceeds ${max} bytes`);

export function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  return readCapped(req, maxBytes, () => tooLarge(maxBytes));
}

/** A request's or response's body, refused with `tooLarge()` past `maxBytes` (declared or streamed). */
export async function readCapped(
  message: Request | Response,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const declared = Number(message.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await message.body?.cancel();
    throw tooLarge();
  }
  if (!message.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = message.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

export async function readJson(req: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const type = req.headers.get('content-type') ?? '';
  // `curl -d '{...}'` sends a JSON body labelled x-www-form-urlencoded; accept any label that is not clearly binary.
  if (/^(multipart|image|audio|video)\//i.test(type)) {
    throw new EdgeClipError('UNSUPPORTED_MEDIA_TYPE', `expected a JSON body, got ${type}`);
  }
  const bytes = await readBody(req, maxBytes);
  if (bytes.length === 0) throw new EdgeClipError('INVALID_INPUT', 'request body is empty; expected a JSON object');
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new EdgeClipError('INVALID_INPUT', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new EdgeClipError('INVALID_INPUT', 'request body must be a JSON object');
  return body as Record<string, unknown>;
}
