/** Opens a build's fp32 towers in onnxruntime-node (CUDA when available, else CPU) and serves the v2 API. */
import { type AddressInfo, createServer } from 'node:net';
import { serve } from '@hono/node-server';
import { openLocalModel } from '../src/adapters/node/local-model.ts';
import { originModelName } from '../src/adapters/origin/origin-client.ts';
import { type OriginServerConfig, parseOriginServerConfig } from '../src/contracts/config.ts';
import { TOWERS } from '../src/contracts/manifest.ts';
import type { ClipModel } from '../src/model/clip-model.ts';
import { DynamicBatcher } from './dynamic-batcher.ts';
import { OriginMetrics } from './metrics.ts';
import { createOriginApp, type OriginModel } from './origin-app.ts';

/** The origin's settings (defaults from src/contracts/config.ts), plus what only code sets. */
export type OriginOptions = Partial<OriginServerConfig> & {
  modelDir: string;
  /** CPU threads per session (0: onnxruntime's default, all cores). */
  threads?: number;
  log?: (line: string) => void;
};

export interface RunningOrigin {
  url: string;
  provider: 'cuda' | 'cpu';
  close(): Promise<void>;
}

/** The build with both fp32 towers loaded on `provider` (loading is where a missing CUDA shows). */
async function openOn(modelDir: string, provider: 'cuda' | 'cpu', threads: number): Promise<ClipModel> {
  const model = await openLocalModel(modelDir, {
    sessionOptions:
      provider === 'cuda'
        ? { executionProviders: ['cuda'] }
        : { executionProviders: ['cpu'], intraOpNumThreads: threads },
  });
  try {
    await Promise.all(TOWERS.map((t) => model.tower(t, 'fp32')));
    return model;
  } catch (e) {
    // Waits for the other tower's load too: sessions CUDA created must be freed before the CPU ones load.
    await model.close();
    throw e;
  }
}

export async function startOrigin(options: OriginOptions): Promise<RunningOrigin> {
  // An option given as undefined keeps its default (a spread would put the undefined in its place).
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as OriginOptions;
  const o = { ...parseOriginServerConfig({}, options.modelDir), ...given };
  const log = o.log ?? ((l: string) => process.stderr.write(`[origin] ${l}\n`));
  let provider: 'cuda' | 'cpu' = o.device === 'cpu' ? 'cpu' : 'cuda';
  let model: ClipModel;
  try {
    model = await openOn(o.modelDir, provider, o.threads ?? 0);
  } catch (e) {
    if (provider !== 'cuda' || o.device === 'cuda') throw e;
    log(`CUDA execution provider unavailable (${(e as Error).message.split('\n')[0]}); using the CPU`);
    provider = 'cpu';
    model = await openOn(o.modelDir, provider, o.threads ?? 0);
  }
  const manifest = await model.manifest();
  const models = new Map<string, OriginModel>();
  const metrics = new OriginMetrics();
  for (const tower of TOWERS) {
    const seg = manifest.towers[tower].fp32!.segments;
    const input = seg[0].inputs[0];
    const output = seg[seg.length - 1].outputs[0];
    const name = originModelName(o.modelPrefix, tower);
    const batcher = new DynamicBatcher(
      await model.tower(tower, 'fp32'),
      input.name,
      manifest.embedDim,
      o.maxBatch,
      o.windowMs,
      metrics.observer(name, manifest.buildHash),
    );
    // A request of at most what the edge sends (MAX_INPUTS, 32) or a few batches; token ids of the model's vocabulary
    // and context.
    const maxRows = Math.max(64, 4 * o.maxBatch);
    const limits =
      tower === 'text'
        ? {
            maxRows,
            maxQueuedRows: 16 * maxRows,
            maxSequence: manifest.tokenizer.contextLength,
            maxId: manifest.tokenizer.eotId,
          }
        : { maxRows, maxQueuedRows: 4 * maxRows };
    models.set(name, { name, input, output, batcher, limits });
  }
  log(
    `serving ${[...models.keys()].join(', ')} (fp32 ${manifest.modelId}@${manifest.buildHash}) on ${provider === 'cuda' ? 'the GPU (CUDA)' : 'the CPU'}`,
  );
  const app = createOriginApp({
    models,
    metrics,
    version: manifest.buildHash,
    token: o.token,
    maxBodyBytes: 64 * 1024 * 1024,
  });
  const server = serve({ fetch: app.fetch, hostname: o.host, port: o.port });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', reject);
    });
  } catch (e) {
    // A taken port: free the sessions (GPU memory) before the caller retries or exits.
    await model.close();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host}:${port}`,
    provider,
    close: () => new Promise<void>((r) => server.close(() => r())).then(() => model.close()),
  };
}

/** A free TCP port on 127.0.0.1 (for tests and for `npm start -- --origin`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}
