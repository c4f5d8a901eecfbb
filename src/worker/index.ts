/** Worker entry: the app is built from the bindings on the first request of each isolate, then reused. */
import type { Hono } from 'hono';
import type { AppEnv } from '../app/app-env.ts';
import { startupError } from '../app/middleware/error-handler.ts';
import { buildApp, type WorkerEnv } from './build-app.ts';

let app: Hono<AppEnv> | undefined;

export default {
  fetch(request, env, ctx) {
    try {
      app ??= buildApp(env);
    } catch (e) {
      // A bad setting (CONFIG_INVALID) answers every request with its message until the deployment is fixed.
      return startupError(e);
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;
