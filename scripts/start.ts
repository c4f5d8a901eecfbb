/**
 * `npm start`: make sure a build exists (the real checkpoint when the Hub is reachable, otherwise the random-weight
 * full-size build), seed local R2 with it (only changed shards) and local KV with an ImageNet-1k label set, then run
 * `wrangler dev` on 127.0.0.1:8787.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOrigin } from '../origin/start-origin.ts';
import { PRECISIONS, type Precision } from '../src/shared/manifest.ts';
import { main as cli } from '../tool/cli/main.ts';
import { DEFAULT_REPO, hubOptionsFromEnv } from '../tool/hub/hf-hub.ts';
import { seedImagenet } from './seed-kv.ts';
import { seedR2 } from './seed-r2.ts';
import { segmentConfigs } from './segment-configs.ts';
import { ensureSegmentedBuild } from './segmented-build.ts';

const REAL_ID = 'convnext_large_d_320-laion2b_s29b_b131k_ft';
const RANDOM_ID = 'convnext_large_d_320-random';
const SHARDS = 'model-shards';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);
const built = (id: string) => existsSync(join(SHARDS, id, 'manifest.json'));

async function hubReachable(): Promise<boolean> {
  try {
    const res = await fetch(`${hubOptionsFromEnv().endpoint}/api/models/${DEFAULT_REPO}`, {
      signal: AbortSignal.timeout(5000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

async function run(args: string[]): Promise<void> {
  const code = await cli(args);
  if (code !== 0) throw new Error(`edge-clip ${args[0]} failed (exit ${code})`);
}

async function ensureModel(requested: string | undefined): Promise<string> {
  if (requested) {
    if (!built(requested))
      throw new Error(`${SHARDS}/${requested} has no manifest.json; build it with npx edge-clip build`);
    return requested;
  }
  if (built(REAL_ID)) return REAL_ID;
  if (built(RANDOM_ID)) return RANDOM_ID;
  if (await hubReachable()) {
    log(`building ${REAL_ID} from hf:${DEFAULT_REPO} (downloads 1.4 GB once)`);
    await run(['build', '--checkpoint', `hf:${DEFAULT_REPO}`, '--out', join(SHARDS, REAL_ID)]);
    return REAL_ID;
  }
  log('the Hugging Face Hub is not reachable: building the random-weight full-size model instead (about a minute)');
  const synth = join('.cache', 'synth-convnext_large_d_320');
  if (!existsSync(join(synth, 'open_clip_model.safetensors')))
    await run(['synth', '--config', 'convnext_large_d_320', '--seed', '0', '--out', synth]);
  await run(['build', '--checkpoint', synth, '--out', join(SHARDS, RANDOM_ID)]);
  return RANDOM_ID;
}

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    precisions: { type: 'string' },
    port: { type: 'string' },
    origin: { type: 'boolean' },
    segmented: { type: 'boolean' },
    'segment-budget': { type: 'string' },
  },
  args: process.argv.slice(2),
});
let modelId = await ensureModel(values.model ?? process.env.EDGE_CLIP_MODEL);
// The production topology: the same checkpoint cut into segments, one Worker each, behind the gateway.
if (values.segmented) modelId = await ensureSegmentedBuild(SHARDS, modelId, values['segment-budget'], log);
// The edge serves int8 by default; fp32 shards are seeded only when asked for (they are 1.4 GB).
const precisions = (values.precisions ?? 'int8').split(',') as Precision[];
for (const p of precisions)
  if (!(PRECISIONS as readonly string[]).includes(p)) throw new Error(`unknown precision ${p}`);
await seedR2(join(SHARDS, modelId), precisions, log);
await seedImagenet(join(SHARDS, modelId), log);
if (modelId === RANDOM_ID) {
  const bar = '='.repeat(78);
  process.stderr.write(
    `\n${bar}\n  RANDOM WEIGHTS: ${modelId} has the real architecture and sizes but random\n  weights, so its embeddings are meaningless (responses carry X-Model-Weights: random).\n  For the real model run once online:  npx edge-clip build --checkpoint hf:${DEFAULT_REPO} --out ${SHARDS}/${REAL_ID}\n${bar}\n\n`,
  );
}
const port = values.port ?? '8787';
const vars = ['--var', `MODEL_ID:${modelId}`];
if (values.origin) {
  // fp32 locally: the origin (onnxruntime-node, CUDA when present) beside wrangler dev.
  const origin = await startOrigin({ modelDir: join(SHARDS, modelId), port: 8790 });
  vars.push('--var', `ORIGIN_URL:${origin.url}`);
  log(`fp32 requests go to the origin at ${origin.url}`);
}
const configs: string[] = [];
if (values.segmented) {
  const { gateway, segments } = segmentConfigs(join(SHARDS, modelId));
  configs.push('-c', gateway, ...segments.flatMap((f) => ['-c', f]), '--persist-to', '.wrangler/state');
  log(`gateway + ${segments.length} segment Workers (configs in .wrangler/segments/)`);
}
const child = spawn(
  process.execPath,
  ['node_modules/wrangler/bin/wrangler.js', 'dev', '--local', '--ip', '127.0.0.1', '--port', port, ...configs, ...vars],
  {
    stdio: 'inherit',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));
