/** Bearer-token guard for admin routes: 401 without a token, 403 with a wrong one (compared in constant time). */
import type { MiddlewareHandler } from 'hono';
import { constantTimeEqual } from '../../contracts/constant-time.ts';
import { EdgeClipError } from '../../contracts/errors.ts';
import type { AppEnv } from '../app-env.ts';

export const adminAuth: MiddlewareHandler<AppEnv> = async function adminAuth(c, next) {
  const expected = c.get('deps').config.adminToken;
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) throw new EdgeClipError('UNAUTHORIZED', 'this route needs Authorization: Bearer <ADMIN_TOKEN>');
  if (!expected) throw new EdgeClipError('FORBIDDEN', 'admin routes are disabled: no ADMIN_TOKEN secret is configured');
  if (!(await constantTimeEqual(m[1], expected))) throw new EdgeClipError('FORBIDDEN', 'wrong admin token');
  await next();
};
