/**
 * Inflate with a ceiling: a decompression bomb (a few KB that inflate to GBs) is stopped after at most `cap` bytes plus
 * one slice's worth, instead of after the allocation. Used to check a stream before a library inflates it unbounded.
 */
import { Inflate, Unzlib } from 'fflate';
import { EdgeClipError } from '../../contracts/errors.ts';

/** Deflate expands at most 1032:1, so a 16 KiB slice of input yields at most ~16 MiB before the ceiling is checked. */
const SLICE = 16 * 1024;

export type InflateResult = { ok: true; bytes: number } | { ok: false; reason: 'over' | 'truncated' | 'corrupt' };

/** Inflates `parts` (one zlib or raw deflate stream, cut anywhere) and counts the output, stopping past `cap`. */
export function inflatedSize(parts: readonly Uint8Array[], cap: number, wrapper: 'zlib' | 'raw'): InflateResult {
  let bytes = 0;
  let over = false;
  const onData = (chunk: Uint8Array) => {
    bytes += chunk.length;
    if (bytes > cap) over = true;
  };
  const stream = wrapper === 'zlib' ? new Unzlib(onData) : new Inflate(onData);
  try {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      for (let o = 0; o < part.length; o += SLICE) {
        stream.push(
          part.subarray(o, Math.min(o + SLICE, part.length)),
          i === parts.length - 1 && o + SLICE >= part.length,
        );
        if (over) return { ok: false, reason: 'over' };
      }
    }
    if (parts.every((p) => p.length === 0)) stream.push(new Uint8Array(0), true);
  } catch (e) {
    return { ok: false, reason: /unexpected EOF/i.test((e as Error).message) ? 'truncated' : 'corrupt' };
  }
  return { ok: true, bytes };
}

/** Some encoders leave a little padding in the stream; more than this past the needed size is refused. */
const SLACK = 4096;

/** Throws the client error (422) for a stream that does not inflate to `expected` bytes (plus a little slack). */
export function requireInflatedSize(
  parts: readonly Uint8Array[],
  expected: number,
  wrapper: 'zlib' | 'raw',
  what: string,
): void {
  const r = inflatedSize(parts, expected + SLACK, wrapper);
  if (r.ok && r.bytes >= expected) return;
  const message = r.ok
    ? `truncated ${what}: it inflates to ${r.bytes} of the ${expected} bytes its size needs`
    : r.reason === 'over'
      ? `${what} inflates past the ${expected} bytes its declared size needs (a decompression bomb?)`
      : r.reason === 'truncated'
        ? `truncated ${what}: the compressed data ends early`
        : `corrupt ${what}: invalid deflate data`;
  throw new EdgeClipError('UNPROCESSABLE_IMAGE', message);
}

/**
 * The first `expected` bytes a zlib stream inflates to, with requireInflatedSize's checks, inflated once by the
 * runtime's own zlib (DecompressionStream) straight into one buffer of that size: no joined copy of the pieces and
 * almost no garbage (fflate's streaming mode allocates a ~160 KiB buffer a slice, tens of MiB for a 2 MP image). Fed a
 * slice at a time while the output is read, so a bomb is stopped after a slice's worth past the ceiling. Once the
 * needed bytes are out, an error in what follows (trailing junk, a bad checksum) is not one: PIL stops reading when
 * the image is complete.
 */
export async function inflateExactly(
  parts: readonly Uint8Array[],
  expected: number,
  what: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  const stream = new DecompressionStream('deflate');
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const feeding = (async () => {
    for (const part of parts)
      for (let o = 0; o < part.length; o += SLICE)
        await writer.write(part.subarray(o, Math.min(o + SLICE, part.length)) as Uint8Array<ArrayBuffer>);
    await writer.close();
  })();
  // A failed write also fails the reader, where it is reported.
  feeding.catch(() => undefined);
  let bytes = 0;
  let error: unknown;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (bytes < expected) out.set(value.subarray(0, expected - bytes), bytes);
      bytes += value.length;
      if (bytes > expected + SLACK) break;
    }
  } catch (e) {
    error = e;
  }
  // Stops a bomb's inflation; nothing to do once the stream is done.
  await reader.cancel().catch(() => undefined);
  if (bytes >= expected && bytes <= expected + SLACK) return out;
  const message =
    bytes > expected + SLACK
      ? `${what} inflates past the ${expected} bytes its declared size needs (a decompression bomb?)`
      : error === undefined
        ? `truncated ${what}: it inflates to ${bytes} of the ${expected} bytes its size needs`
        : /end of (file|stream|input)|incomplete|truncat/i.test(String(error))
          ? `truncated ${what}: the compressed data ends early`
          : `corrupt ${what}: invalid deflate data`;
  throw new EdgeClipError('UNPROCESSABLE_IMAGE', message);
}
