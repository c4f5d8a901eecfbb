/**
 * A bench-only Worker (`npm run bench:profile`): loads one int8 tower from the local R2 bucket with onnxruntime's
 * profiler on (or off: `profile=0`) and answers `GET /?tower=image|text&runs=N&ids=…` with the run times and the
 * profiler's printed events, so that workerd's op table can be set beside Node's. Never deployed: the service Worker has no profiling code.
 */
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import type { TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { loadTowerSessions } from '../../src/model/load-tower.ts';
import { TowerRunner } from '../../src/model/tower-runner.ts';
import { endProfiling, routeConsoleLog, syntheticPixels } from './ort-profile.ts';

interface Env {
  MODELS: R2Bucket;
  MODEL_ID: string;
}

routeConsoleLog();

const runners = new Map<string, Promise<TowerRunner>>();
function runner(env: Env, tower: TowerName, profile: boolean): Promise<TowerRunner> {
  const key = `${tower}/${profile}`;
  let r = runners.get(key);
  if (!r) {
    const files = r2Files(env.MODELS, env.MODEL_ID);
    const ort = workerdOrt();
    r = files.manifest().then(async (m) => {
      const sessions = await loadTowerSessions(ort, m, tower, 'int8', files.read, {
        sessionOptions: { enableProfiling: profile },
      });
      return new TowerRunner(ort, sessions);
    });
    runners.set(key, r);
  }
  return r;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    const profile = url.searchParams.get('profile') !== '0';
    const tower = url.searchParams.get('tower') === 'text' ? 'text' : 'image';
    const runs = Math.min(20, Math.max(1, Number(url.searchParams.get('runs') ?? 3)));
    const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean).map(BigInt);
    const size = Number(url.searchParams.get('size') ?? 320);
    const r = await runner(env, tower, profile);
    const times: number[] = [];
    const pixels = syntheticPixels(size);
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      if (tower === 'image') await r.run(IMAGE_INPUT, pixels, [1, 3, size, size]);
      else await r.run(TEXT_INPUT, BigInt64Array.from(ids), [1, ids.length]);
      times.push(performance.now() - t0);
    }
    if (!profile) return Response.json({ times, profiles: [] });
    const profiles = await endProfiling(r.sessions);
    // endProfiling stops the profiler for good: the next request loads fresh sessions.
    runners.delete(`${tower}/true`);
    for (const s of r.sessions) await s.release();
    return Response.json({ times, profiles });
  },
};
