/** Resumable HTTP downloads into a cache, with progress and sha256 verification when the server states the hash. */
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EdgeClipError, isEdgeClipError } from '../../src/contracts/errors.ts';
import { Progress } from '../cli/progress.ts';
import { sha256File } from '../converter/file-hash.ts';

export interface DownloadOptions {
  headers?: Record<string, string>;
  /** Expected sha256 (hex); otherwise taken from the server's X-Linked-Etag/ETag when that is a sha256. */
  sha256?: string;
  label?: string;
  retries?: number;
}

const SHA_ETAG = /^(?:W\/)?"?([0-9a-f]{64})"?$/;

function statedSha(res: Response): string | undefined {
  for (const h of ['x-linked-etag', 'etag']) {
    const m = SHA_ETAG.exec(res.headers.get(h) ?? '');
    if (m) return m[1];
  }
  return undefined;
}

/** Downloads `url` to `dest` (skipped when dest exists), resuming a previous `.part` with a Range request. */
export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<string> {
  if (existsSync(dest)) return dest;
  await mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      const have = existsSync(part) ? statSync(part).size : 0;
      const headers: Record<string, string> = { ...opts.headers };
      if (have > 0) headers.range = `bytes=${have}-`;
      const res = await fetch(url, { headers, redirect: 'follow' });
      if (res.status === 404) throw new EdgeClipError('NOT_FOUND', `${url}: 404 not found`);
      if (res.status === 416 && have > 0) {
        // The part is already complete: fall through to verification.
      } else if (!res.ok) {
        throw new EdgeClipError('DOWNLOAD_FAILED', `${url}: HTTP ${res.status}`);
      }
      const resumed = res.status === 206;
      const expected = opts.sha256 ?? statedSha(res);
      if (res.status !== 416 && res.body) {
        const length = Number(res.headers.get('content-length') ?? 0);
        const total = (resumed ? have : 0) + length;
        const progress = new Progress(opts.label ?? url, total);
        let done = resumed ? have : 0;
        const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
        body.on('data', (chunk: Buffer) => {
          done += chunk.length;
          progress.update(done);
        });
        await pipeline(body, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
        if (length > 0 && done !== total)
          throw new EdgeClipError('DOWNLOAD_FAILED', `${url}: connection closed at ${done} of ${total} bytes`);
      }
      if (expected) {
        const got = await sha256File(part);
        if (got !== expected) {
          rmSync(part, { force: true });
          throw new EdgeClipError(
            'CHECKSUM_MISMATCH',
            `${url}: sha256 ${got} does not match ${expected}; the partial file was removed`,
          );
        }
      }
      renameSync(part, dest);
      return dest;
    } catch (e) {
      // A missing file or wrong bytes will not get better by trying again.
      if (isEdgeClipError(e) && (e.code === 'NOT_FOUND' || e.code === 'CHECKSUM_MISMATCH')) throw e;
      const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      if (attempt >= retries) throw new EdgeClipError('DOWNLOAD_FAILED', `${url}: ${reason}`, { cause: e });
      process.stderr.write(`download of ${url} interrupted (${reason}); retrying (${attempt + 1}/${retries})\n`);
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}
