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
