/**
 * Test infrastructure: a loopback HTTP server of image URLs, good and hostile, for the Worker's URL fetching
 * (`test/worker/image-url.test.ts`): started in the workerd project's global setup.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PREPROCESS } from '../helpers/paths.ts';

export interface ImageServer {
  url: string;
  close(): Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const png = readFileSync(join(PREPROCESS, 'chelsea.png'));
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const redirect = (to: string) => {
      res.statusCode = 302;
      res.setHeader('location', to);
      res.end();
    };
    switch (path) {
      case '/cat.png':
        res.setHeader('content-type', 'image/png');
        return res.end(png);
      // Image bytes under a misleading type: the bytes decide.
      case '/cat-as-octets':
        res.setHeader('content-type', 'application/octet-stream');
        return res.end(png);
      case '/page.html':
        res.setHeader('content-type', 'text/html');
        return res.end('<html>not an image</html>');
      case '/missing.png':
        res.statusCode = 404;
        return res.end();
      case '/hop1':
        return redirect('/hop2');
      case '/hop2':
        return redirect('/hop3');
      case '/hop3':
        return redirect('/cat.png');
      case '/loop':
        return redirect('/loop');
      case '/to-file':
        return redirect('file:///etc/passwd');
      case '/to-data':
        return redirect(`data:image/png;base64,${png.subarray(0, 64).toString('base64')}`);
      // Declares a size over the limit.
      case '/huge-declared':
        res.setHeader('content-type', 'image/png');
        res.setHeader('content-length', String(64 * 2 ** 20));
        res.write(png.subarray(0, 1024));
        return undefined;
      // Streams without end and without a length: only the streamed count can stop it.
      case '/endless': {
        res.setHeader('content-type', 'image/png');
        res.write(png.subarray(0, 8));
        const chunk = Buffer.alloc(1 << 20);
        const pump = () => {
          while (res.write(chunk)) if (res.destroyed) return;
          res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        return pump();
      }
      // A byte a second: the time limit must end it.
      case '/trickle': {
        res.setHeader('content-type', 'image/png');
        let i = 0;
        const timer = setInterval(() => {
          if (res.destroyed || i >= png.length) return clearInterval(timer);
          res.write(png.subarray(i, ++i));
        }, 1000);
        res.on('close', () => clearInterval(timer));
        return undefined;
      }
      // Answers headers, then drops the connection mid-body.
      case '/drop':
        res.setHeader('content-type', 'image/png');
        res.setHeader('content-length', String(png.length));
        res.write(png.subarray(0, 100));
        return setTimeout(() => res.socket?.destroy(), 50);
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
