/**
 * One JSON line per request, for `wrangler tail` and Workers Logs (which index JSON lines by field): the request id
 * (echoed as `X-Request-Id`), route, status, precision, phase timings, cache, and the model build that answered.
 */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from '../app-env.ts';

const round = (ms: number) => Math.round(ms * 10) / 10;

export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    const started = performance.now();
    await next();
    const { deps, timing, manifest } = c.var;
    if (!deps) return;
    const res = c.res;
    const error =
      res.status >= 400
        ? await res
            .clone()
            .json()
            .then((b) => (b as { error?: { type?: string } }).error?.type)
            .catch(() => undefined)
        : undefined;
    const line = {
      level: res.status >= 500 ? 'error' : res.status >= 400 ? 'warn' : 'info',
      request_id: c.var.requestId,
      method: c.req.method,
      route: routePath(c, -1),
      status: res.status,
      error,
      precision: res.headers.get('x-precision') ?? undefined,
      degraded: res.headers.has('x-degraded') || undefined,
      cache: res.headers.get('x-cache') ?? undefined,
      ms: round(performance.now() - started),
      timings: timing ? Object.fromEntries(timing.phases().map(([name, ms]) => [name, round(ms)])) : undefined,
      model: manifest ? `${manifest.modelId}@${manifest.buildHash}` : undefined,
      weights: manifest?.weights,
    };
    (deps.log ?? console.log)(JSON.stringify(line));
  };
}
