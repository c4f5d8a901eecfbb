/** Loads the fp32 towers of a build into onnxruntime-node (CUDA when available, else CPU) and serves the v2 API. */
import { type AddressInfo, createServer } from 'node:net';
import { serve } from '@hono/node-server';
import type { InferenceSession } from 'onnxruntime-common';
import { readManifest } from '../src/adapters/node/local-build.ts';
import { diskReader, loadOrt } from '../src/adapters/node/ort-runtimes.ts';
import { originModelName } from '../src/adapters/origin/origin-client.ts';
import { TOWERS } from '../src/contracts/manifest.ts';
import { loadTowerSessions } from '../src/model/load-tower.ts';
import type { OrtModule } from '../src/model/ort-types.ts';
import { TowerRunner } from '../src/model/tower-runner.ts';
import { DynamicBatcher } from './dynamic-batcher.ts';
import { createOriginApp, type OriginModel } from './origin-app.ts';

export interface OriginOptions {
  modelDir: string;
  host?: string;
  port?: number;
  token?: string;
  /** Rows per batch; 1 turns dynamic batching off. */
  maxBatch?: number;
  windowMs?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  modelPrefix?: string;
  threads?: number;
  log?: (line: string) => void;
}

export interface RunningOrigin {
  url: string;
  provider: 'cuda' | 'cpu';
  close(): Promise<void>;
}

async function createSessions(
  ort: OrtModule,
  dir: string,
  tower: 'image' | 'text',
  provider: 'cuda' | 'cpu',
  threads: number,
): Promise<InferenceSession[]> {
  const manifest = readManifest(dir);
  const sessionOptions: InferenceSession.SessionOptions =
    provider === 'cuda'
      ? { executionProviders: ['cuda'] }
      : { executionProviders: ['cpu'], intraOpNumThreads: threads };
  return loadTowerSessions(ort, manifest, tower, 'fp32', diskReader(dir), { sessionOptions });
}

export async function startOrigin(o: OriginOptions): Promise<RunningOrigin> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[origin] ${l}\n`));
  const manifest = readManifest(o.modelDir);
  const ort = await loadOrt('node');
  const threads = o.threads ?? 0;
  let provider: 'cuda' | 'cpu' = o.device === 'cpu' ? 'cpu' : 'cuda';
  const models = new Map<string, OriginModel>();
  for (const tower of TOWERS) {
    let sessions: InferenceSession[];
    try {
      sessions = await createSessions(ort, o.modelDir, tower, provider, threads);
    } catch (e) {
      if (provider !== 'cuda' || o.device === 'cuda') throw e;
      log(`CUDA execution provider unavailable (${(e as Error).message.split('\n')[0]}); using the CPU`);
      provider = 'cpu';
      sessions = await createSessions(ort, o.modelDir, tower, provider, threads);
    }
    const seg = manifest.towers[tower].fp32!.segments;
    const input = seg[0].inputs[0];
    const output = seg[seg.length - 1].outputs[0];
    const name = originModelName(o.modelPrefix ?? 'edgeclip', tower);
    const batcher = new DynamicBatcher(
      new TowerRunner(ort, sessions),
      input.name,
      manifest.embedDim,
      o.maxBatch ?? 16,
      o.windowMs ?? 4,
    );
    models.set(name, { name, input, output, batcher });
  }
  log(
    `serving ${[...models.keys()].join(', ')} (fp32 ${manifest.modelId}@${manifest.buildHash}) on ${provider === 'cuda' ? 'the GPU (CUDA)' : 'the CPU'}`,
  );
  const app = createOriginApp({ models, token: o.token, maxBodyBytes: 64 * 1024 * 1024 });
  const host = o.host ?? '127.0.0.1';
  const server = serve({ fetch: app.fetch, hostname: host, port: o.port ?? 8790 });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    provider,
    close: () => new Promise<void>((r) => server.close(() => r())),
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
