/** The Hono app: web-standard only, so the same app runs in workerd and (for the origin) in Node. */
import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { setMetric, timing } from 'hono/timing';
import { EdgeClipError } from '../contracts/errors.ts';
import { RequestCache } from '../model/embedding-cache.ts';
import type { AppDeps, AppEnv } from './app-env.ts';
import { inferenceAccess } from './middleware/access.ts';
import { errorResponse } from './middleware/error-handler.ts';
import { requestLog } from './middleware/request-log.ts';
import { openApiDocument } from './openapi.ts';
import { PLAYGROUND_HTML } from './playground/page.ts';
import { classifyRoutes } from './routes/classify.ts';
import { embeddingsRoutes } from './routes/embeddings.ts';
import { labelsetRoutes } from './routes/labelsets.ts';
import { modelRoutes } from './routes/models.ts';
import { MODEL_INPUT_HEADERS, preprocessRoutes } from './routes/preprocess.ts';
import { apiSchemas } from './schemas.ts';
import { ServerTiming } from './server-timing.ts';

/** Work to finish after the response: the Worker's waitUntil; elsewhere (Node) it just runs. */
function deferrer(c: Context<AppEnv>): (work: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return () => undefined;
  }
}

const PLAYGROUND_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** Request headers a page may send, and answer headers it may read, across origins. */
const CORS_REQUEST_HEADERS = ['content-type', 'authorization', 'cache-control', 'x-request-id'];
const CORS_ANSWER_HEADERS = [
  'x-request-id',
  'x-cache',
  'x-precision',
  'x-prompts-encoded',
  'retry-after',
  'server-timing',
  ...Object.keys(MODEL_INPUT_HEADERS),
];

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const origins = deps.config.corsOrigins;
  // First, so that a preflight is answered before anything else runs (and errors carry the CORS headers too).
  if (origins.length > 0)
    app.use(
      '*',
      cors({
        origin: origins.includes('*') ? '*' : [...origins],
        allowHeaders: CORS_REQUEST_HEADERS,
        exposeHeaders: CORS_ANSWER_HEADERS,
        maxAge: 600,
      }),
    );
  // Server-Timing (with `total`) on answers that did measurable work.
  app.use('*', timing({ totalDescription: '', enabled: (c) => c.get('timing')?.empty === false }));
  // The caller's X-Request-Id when it is a sane token (≤ 128 word characters or -/=), else a new UUID; echoed back.
  app.use('*', requestId({ limitLength: 128 }));
  app.use('*', requestLog());
  app.use('*', async function attachDeps(c, next) {
    const phases = new ServerTiming();
    c.set('deps', deps);
    c.set('timing', phases);
    // `Cache-Control: no-cache` computes afresh and refreshes the cache; `no-store` neither reads nor stores.
    const directives = c.req.header('cache-control') ?? '';
    const mode = /no-store/i.test(directives) ? 'bypass' : /no-cache/i.test(directives) ? 'refresh' : 'use';
    const cache = new RequestCache(deps.embeddingCache, mode, deferrer(c));
    c.set('cache', cache);
    // The deadline is also this request's own timer: workerd cancels as hung a request that only waits for work
    // other requests run (the scheduler's turns, a shared batch) unless it has I/O or a timer of its own.
    const deadline = new AbortController();
    const ms = deps.config.requestTimeoutMs;
    const timer = setTimeout(
      () =>
        deadline.abort(
          new EdgeClipError('OVERLOADED', `no answer within ${ms / 1000} s (REQUEST_TIMEOUT_MS); retry later`, {
            retryAfter: 5,
          }),
        ),
      ms,
    );
    c.set('signal', AbortSignal.any([c.req.raw.signal, deadline.signal]));
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
    if (cache.status && c.res.ok) c.header('x-cache', cache.status);
    for (const [name, ms] of phases.phases()) setMetric(c, name, ms);
    // Label every answer of a random-weight build, so its numbers are never mistaken for CLIP's.
    const manifest = await deps.model.manifest().catch(() => undefined);
    if (manifest?.weights === 'random') c.header('x-model-weights', 'random');
    c.set('manifest', manifest);
  });
  for (const path of ['/v1/embeddings', '/v1/images/embeddings', '/v1/classify', '/v1/preprocess'])
    app.use(path, inferenceAccess);
  const api = apiSchemas(deps.config);
  app.route('/', modelRoutes(api));
  app.route('/', embeddingsRoutes(api));
  app.route('/', classifyRoutes(api));
  app.route('/', labelsetRoutes(api));
  app.route('/', preprocessRoutes(api));
  app.get('/openapi.json', openApiDocument(app));
  app.get('/', (c) =>
    c.html(PLAYGROUND_HTML, 200, {
      'cache-control': 'public, max-age=300',
      // The page talks only to this origin and runs only its own inline script and style.
      'content-security-policy': PLAYGROUND_CSP,
    }),
  );
  app.notFound((c) =>
    c.json({ error: { type: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.onError(errorResponse);
  return app;
}
