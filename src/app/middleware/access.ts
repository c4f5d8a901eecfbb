/**
 * Who may run inference, and how often: optional API keys (the API_KEYS secret; open when unset) and a per-client
 * rate limit through the Workers Rate Limiting binding (RATE_LIMITER; none when unbound), keyed by API key or, without
 * keys, by the client's address. Health, model info, the API description and the playground stay open.
 */
import type { MiddlewareHandler } from 'hono';
import { constantTimeEqual } from '../../contracts/constant-time.ts';
import { EdgeClipError } from '../../contracts/errors.ts';
import { sha256Hex } from '../../contracts/sha256.ts';
import type { AppEnv } from '../app-env.ts';

/** The key the request's bearer token matches, or undefined when keys are off; 401 when it matches none. */
async function apiKeyOf(authorization: string | undefined, keys: readonly string[]): Promise<string | undefined> {
  if (keys.length === 0) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  if (!m) throw new EdgeClipError('UNAUTHORIZED', 'this route needs Authorization: Bearer <API key>');
  // Every key is compared, so the time taken does not tell which one came close.
  const matches = await Promise.all(keys.map((k) => constantTimeEqual(m[1], k)));
  const i = matches.indexOf(true);
  if (i < 0) throw new EdgeClipError('UNAUTHORIZED', 'unknown API key');
  return keys[i];
}

export const inferenceAccess: MiddlewareHandler<AppEnv> = async function inferenceAccess(c, next) {
  const { config, rateLimiter } = c.get('deps');
  const key = await apiKeyOf(c.req.header('authorization'), config.apiKeys);
  if (rateLimiter) {
    // A key's hash, not the key: the limiter's keys are not secrets.
    const client = key
      ? `key:${(await sha256Hex(new TextEncoder().encode(key))).slice(0, 32)}`
      : `ip:${c.req.header('cf-connecting-ip') ?? 'unknown'}`;
    const { success } = await rateLimiter.limit({ key: client });
    if (!success)
      throw new EdgeClipError(
        'RATE_LIMITED',
        `rate limit reached for this ${key ? 'API key' : 'client address'}; retry in ${config.rateLimitPeriodSeconds} s`,
        { retryAfter: config.rateLimitPeriodSeconds },
      );
  }
  await next();
};
