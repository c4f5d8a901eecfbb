/** A segment Worker's HTTP face: GET /stats, POST /load, POST /run (the gateway itself calls `run` over RPC). */
import { Hono } from 'hono';
import { errorResponse } from '../app/middleware/error-handler.ts';
import { HEADER_LENGTH } from '../contracts/inference-protocol.ts';
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
  app.post('/run', async (c) => {
    const { body, headerLength } = await host.run(
      new Uint8Array(await c.req.arrayBuffer()),
      c.req.header(HEADER_LENGTH) ?? null,
    );
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
      [HEADER_LENGTH]: String(headerLength),
    });
  });
  return app;
}
