/** Starts `wrangler dev` (the real workerd) for a benchmark and stops it with its whole process group. */
import { serveWorker } from '../scripts/serve-worker.ts';
import { spawnWranglerDev } from '../scripts/wrangler-dev.ts';

/** Headers that make a request compute: the embedding cache would otherwise answer the benchmarks' repeated inputs. */
export const COMPUTE = { 'cache-control': 'no-cache' };

export interface DevServer {
  url: string;
  stop(): Promise<void>;
}

export async function startDev(
  modelId: string,
  port: number,
  vars: string[] = [],
  args: string[] = [],
): Promise<DevServer> {
  const child = spawnWranglerDev(
    port,
    ['--var', `MODEL_ID:${modelId}`, ...vars.flatMap((v) => ['--var', v]), ...args],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('wrangler dev did not start within 180 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    url,
    async stop() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 1000));
    },
  };
}

/** The Worker as `npm start` serves it (serve-worker.ts), quiet: the benchmark's own output is the report. */
export async function startServed(
  modelId: string,
  port: number,
  vars: Record<string, string> = {},
): Promise<DevServer> {
  const served = await serveWorker({
    port,
    vars: { MODEL_ID: modelId, ...vars },
    outDir: `.wrangler/serve-${port}`,
    quiet: true,
  });
  return { url: served.url, stop: () => served.dispose() };
}
