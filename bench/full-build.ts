/** The benchmarks' model: a random-weight build of the full-size architecture, made once and reused. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runEdgeClip } from '../scripts/edge-clip.ts';

export const FULL_MODEL_ID = 'convnext_large_d_320-random';
export const FULL_DIR = join('model-shards', FULL_MODEL_ID);

export async function ensureFullBuild(): Promise<void> {
  if (existsSync(join(FULL_DIR, 'manifest.json'))) return;
  const synth = join('.cache', 'synth-convnext_large_d_320');
  if (!existsSync(join(synth, 'open_clip_model.safetensors')))
    await runEdgeClip(['synth', '--config', 'convnext_large_d_320', '--seed', '0', '--out', synth]);
  await runEdgeClip(['build', '--checkpoint', synth, '--out', FULL_DIR]);
}
