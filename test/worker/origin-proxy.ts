/** Test infrastructure: a loopback proxy in front of the origin that tests can take down and bring back up. */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OriginProxy {
  url: string;
  close(): Promise<void>;
}

type Mode = 'up' | 'down' | 'hold';

/**
 * Control: POST /__control/up, /down (drop each request's connection at once) or /hold (keep each request open with
 * no answer, as a hung origin does, until the client gives up); GET /__control → {mode, forwarded, seen}.
 */
export async function startOriginProxy(target: string): Promise<OriginProxy> {
  const to = new URL(target);
  let mode: Mode = 'up';
  let forwarded = 0;
  let seen = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/__control')) {
      if (req.method === 'POST') mode = (req.url.split('/').pop() ?? 'up') as Mode;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ mode, forwarded, seen }));
      return;
    }
    seen++;
    if (mode === 'hold') {
      req.resume();
      return;
    }
    if (mode === 'down') {
      // An origin that dies mid-request: read the request, then drop the connection without an answer.
      req.resume();
      req.on('end', () => req.socket.destroy());
      return;
    }
    forwarded++;
    const upstream = request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
