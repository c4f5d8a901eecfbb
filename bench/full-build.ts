/** The benchmarks' model: a random-weight build of the full-size architecture, made once and reused. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runEdgeClip } from '../scripts/edge-clip.ts';
import { seedR2 } from '../scripts/seed-r2.ts';
import { type DevServer, startDev } from './workerd-server.ts';

export const FULL_MODEL_ID = 'convnext_large_d_320-random';
export const FULL_DIR = join('model-shards', FULL_MODEL_ID);

export async function ensureFullBuild(): Promise<void> {
  if (existsSync(join(FULL_DIR, 'manifest.json'))) return;
  const synth = join('.cache', 'synth-convnext_large_d_320');
  if (!existsSync(join(synth, 'open_clip_model.safetensors')))
    await runEdgeClip(['synth', '--config', 'convnext_large_d_320', '--seed', '0', '--out', synth]);
  await runEdgeClip(['build', '--checkpoint', synth, '--out', FULL_DIR]);
}

/**
 * A bench-only Worker (`config`, its wrangler.toml) under `wrangler dev` on `port`, reading the full-size build's int8
 * segments from the local R2 that `npm start` uses (seeded first).
 */
export async function startFullBuildWorker(config: string, port: number, log: (l: string) => void): Promise<DevServer> {
  await ensureFullBuild();
  await seedR2(FULL_DIR, ['int8'], log);
  return startDev(FULL_MODEL_ID, port, [], ['-c', config, '--persist-to', '.wrangler/state']);
}
