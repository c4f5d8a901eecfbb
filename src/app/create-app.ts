/** The Hono app: web-standard only, so the same app runs in workerd and (for the origin) in Node. */
import { Hono } from 'hono';
import type { AppDeps, AppEnv } from './app-env.ts';
import { errorResponse } from './middleware/error-handler.ts';
import { classifyRoutes } from './routes/classify.ts';
import { embeddingsRoutes } from './routes/embeddings.ts';
import { labelsetRoutes } from './routes/labelsets.ts';
import { modelRoutes } from './routes/models.ts';
import { ServerTiming } from './server-timing.ts';

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', async function attachDeps(c, next) {
    c.set('deps', deps);
    c.set('timing', new ServerTiming());
    await next();
    // Label every answer of a random-weight build, so its numbers are never mistaken for CLIP's.
    const manifest = await deps.models.manifest().catch(() => undefined);
    if (manifest?.weights === 'random') c.header('x-model-weights', 'random');
  });
  app.route('/', modelRoutes);
  app.route('/', embeddingsRoutes);
  app.route('/', classifyRoutes);
  app.route('/', labelsetRoutes);
  app.notFound((c) =>
    c.json({ error: { type: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.onError(errorResponse);
  return app;
}
