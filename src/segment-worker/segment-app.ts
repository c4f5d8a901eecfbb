/**
 * A segment Worker's HTTP face: GET /stats and POST /load, reached through the gateway's service binding. Inference
 * is RPC only (`run` on the entrypoint): no HTTP route takes tensors.
 */
import { Hono } from 'hono';
import { errorResponse } from '../app/middleware/error-handler.ts';
import type { SegmentHost } from '../model/segment-host.ts';

export function createSegmentApp(host: SegmentHost): Hono {
  const app = new Hono();
  app.onError(errorResponse);
  app.get('/stats', async (c) => c.json(await host.stats()));
  // The gateway calls this on every segment at once before a tower's first run, so that they load in parallel.
  app.post('/load', async (c) => {
    await host.load();
    return c.body(null, 204);
  });
  return app;
}
