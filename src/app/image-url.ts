/**
 * Images named by URL, fetched the way an uploaded body is read: a scheme and address check on every hop (https only
 * unless IMAGE_URLS=any; no private, loopback or link-local addresses; at most 3 redirects, each checked again), a
 * time limit, at most the request's remaining byte budget read as it streams, and image bytes (sniffed, whatever the
 * content type says). The bytes then go where uploaded bytes go: same pipeline, same cache key.
 */
import { EdgeClipError, quoteInput } from '../contracts/errors.ts';
import { sniffFormat } from '../model/image/probe-image.ts';
import { readCapped } from './request-body.ts';

export type ImageUrlPolicy = 'https' | 'any' | 'off';

export interface ImageUrlLimits {
  policy: ImageUrlPolicy;
  timeoutMs: number;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 3;

const bad = (where: string, message: string) => new EdgeClipError('INVALID_INPUT', `${where}: ${message}`);

/** IPv4 literals in ranges a public image cannot live in: this host, private, loopback, link-local, CGNAT, multicast. */
function privateV4(host: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}

/** IPv6 literals ([…] in a URL) that are loopback, unspecified, link-local, unique-local, multicast or IPv4-mapped. */
function privateV6(host: string): boolean {
  if (!host.startsWith('[')) return false;
  const h = host.slice(1, -1).toLowerCase();
  return h === '::1' || h === '::' || /^(fe[89ab]|f[cd]|ff)/.test(h) || h.startsWith('::ffff:');
}

/** The URL, or a 400 saying why it is not one this Worker fetches. */
function checkedUrl(raw: string, where: string, policy: ImageUrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(where, `${quoteInput(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy === 'any'))
    throw bad(
      where,
      `${url.protocol} URLs are not fetched: ${policy === 'any' ? 'http or https' : 'https'} only (IMAGE_URLS=${policy})`,
    );
  if (url.username || url.password) throw bad(where, 'URLs with credentials are not fetched');
  const host = url.hostname.toLowerCase();
  if (
    policy !== 'any' &&
    (host === 'localhost' || host.endsWith('.localhost') || privateV4(host) || privateV6(host) || !host.includes('.'))
  )
    throw bad(where, `${host} is a private or local address; only public hosts are fetched (IMAGE_URLS=${policy})`);
  return url;
}

/** The image at `raw`, at most `maxBytes`, within the limits; every failure a JSON error naming the URL's problem. */
export async function fetchImage(
  raw: string,
  where: string,
  maxBytes: number,
  limits: ImageUrlLimits,
): Promise<Uint8Array> {
  if (limits.policy === 'off') throw bad(where, 'image URLs are not fetched here (IMAGE_URLS=off); send the bytes');
  let url = checkedUrl(raw, where, limits.policy);
  const deadline = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([limits.signal, deadline]) : deadline;
  try {
    for (let hop = 0; ; hop++) {
      const res = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
      if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
        await res.body?.cancel();
        if (hop === MAX_REDIRECTS) throw bad(where, `more than ${MAX_REDIRECTS} redirects from ${quoteInput(raw)}`);
        url = checkedUrl(new URL(res.headers.get('location') ?? '', url).href, `${where} (redirected)`, limits.policy);
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new EdgeClipError('IMAGE_URL_FAILED', `${where}: ${url.host} answered HTTP ${res.status}`);
      }
      const host = url.host;
      const bytes = await readCapped(
        res,
        maxBytes,
        () => new EdgeClipError('PAYLOAD_TOO_LARGE', `${where}: the image at ${host} is larger than ${maxBytes} bytes`),
      );
      if (!sniffFormat(bytes))
        throw new EdgeClipError(
          'UNSUPPORTED_MEDIA_TYPE',
          `${where}: ${url.host} answered ${res.headers.get('content-type') ?? 'no content type'}, not a JPEG, PNG, GIF, BMP, TIFF, WebP or AVIF image`,
        );
      return bytes;
    }
  } catch (e) {
    if (e instanceof EdgeClipError) throw e;
    if (deadline.aborted)
      throw new EdgeClipError(
        'IMAGE_URL_TIMEOUT',
        `${where}: no image from ${url.host} within ${limits.timeoutMs / 1000} s (IMAGE_URL_TIMEOUT_MS)`,
      );
    if (limits.signal?.aborted) throw e;
    throw new EdgeClipError('IMAGE_URL_FAILED', `${where}: could not fetch from ${url.host}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
