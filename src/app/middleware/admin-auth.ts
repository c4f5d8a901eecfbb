/** Bearer-token guard for admin routes: 401 without a token, 403 with a wrong one (compared in constant time). */
import type { MiddlewareHandler } from 'hono';
import { EdgeClipError } from '../../shared/errors.ts';
import type { AppEnv } from '../app-env.ts';

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

/** Equal-length digests and an XOR fold: the time taken does not depend on where the strings differ. */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

export const adminAuth: MiddlewareHandler<AppEnv> = async function adminAuth(c, next) {
  const expected = c.get('deps').config.adminToken;
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) throw new EdgeClipError('UNAUTHORIZED', 'this route needs Authorization: Bearer <ADMIN_TOKEN>');
  if (!expected) throw new EdgeClipError('FORBIDDEN', 'admin routes are disabled: no ADMIN_TOKEN secret is configured');
  if (!(await constantTimeEqual(m[1], expected))) throw new EdgeClipError('FORBIDDEN', 'wrong admin token');
  await next();
};
