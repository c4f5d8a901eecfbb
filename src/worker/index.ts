/** Worker entry: the app is built from the bindings on the first request of each isolate, then reused. */
import type { Hono } from 'hono';
import type { AppEnv } from '../app/app-env.ts';
import { buildApp, type WorkerEnv } from './build-app.ts';

let app: Hono<AppEnv> | undefined;

export default {
  fetch(request, env, ctx) {
    app ??= buildApp(env);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;
