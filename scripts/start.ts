/**
 * `npm start`: make sure a build exists (the real checkpoint when the Hub is reachable, otherwise the random-weight
 * full-size build), seed local R2 with it (only changed shards) and local KV with an ImageNet-1k label set, then serve
 * the Worker on 127.0.0.1:8787 in workerd (serve-worker.ts; `--segmented`: the gateway and segment Workers under
 * `wrangler dev`). Every failure ends in one line naming the cause and the fix, never a stack trace.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOrigin } from '../origin/start-origin.ts';
import { errorLine } from '../src/contracts/errors.ts';
import { PRECISIONS, type Precision } from '../src/contracts/manifest.ts';
import { runEdgeClip } from './edge-clip.ts';
import { seedImagenet } from './seed-kv.ts';
import { seedR2 } from './seed-r2.ts';
import { segmentConfigs } from './segment-configs.ts';
import { ensureSegmentedBuild } from './segmented-build.ts';
import { serveWorker } from './serve-worker.ts';
import { spawnWranglerDev } from './wrangler-dev.ts';

/** The mission's checkpoint on the Hugging Face Hub, and the build folder made from it. */
const REAL_REPO = 'laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft';
const REAL_ID = 'convnext_large_d_320-laion2b_s29b_b131k_ft';
const RANDOM_ID = 'convnext_large_d_320-random';
const SHARDS = 'model-shards';
const SYNTH = join('.cache', 'synth-convnext_large_d_320');

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);
const built = (id: string) => existsSync(join(SHARDS, id, 'manifest.json'));

/** A failure the user can act on: what went wrong and what to do about it, printed as one line. */
class StartError extends Error {
  constructor(cause: string, fix: string) {
    super(`${cause} — ${fix}`);
  }
}

/** Whether the Hub (or HF_ENDPOINT) answers for the real checkpoint. */
async function hubReachable(): Promise<boolean> {
  try {
    return (JSON.parse(await runEdgeClip(['hub', '--repo', REAL_REPO])) as { reachable: boolean }).reachable === true;
  } catch (e) {
    // Whatever failed, the random-weight build is the way forward; say why.
    log(`could not ask the Hugging Face Hub (${errorLine(e)})`);
    return false;
  }
}

/** Runs an edge-clip command; its failure names the step and how to recover. */
async function step(what: string, args: string[], fix: string): Promise<void> {
  try {
    await runEdgeClip(args);
  } catch (e) {
    throw new StartError(`${what} failed: ${errorLine(e)}`, fix);
  }
}

/**
 * An interrupted build or synth leaves `<name>.tmp-<pid>` folders (finished outputs are renamed into place, so a
 * half-built model is never served); remove those whose process is gone.
 */
function removeStaleTemps(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const pid = Number(/\.tmp-(\d+)(\.old)?$/.exec(name)?.[1]);
    if (!pid || pidAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    log(`removed ${join(dir, name)}, left by an interrupted run`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function availableModels(): string[] {
  if (!existsSync(SHARDS)) return [];
  return readdirSync(SHARDS).filter((id) => !id.startsWith('.') && built(id));
}

async function ensureModel(requested: string | undefined): Promise<string> {
  if (requested) {
    if (built(requested)) return requested;
    const have = availableModels();
    throw new StartError(
      `unknown model ${requested}: ${SHARDS}/${requested} has no manifest.json`,
      have.length
        ? `use one of ${have.join(', ')}, or build it with npx edge-clip build --out ${SHARDS}/${requested}`
        : `build it with npx edge-clip build --checkpoint <dir|hf:REPO> --out ${SHARDS}/${requested}, or run npm start without --model`,
    );
  }
  if (built(REAL_ID)) return REAL_ID;
  if (built(RANDOM_ID)) return RANDOM_ID;
  if (await hubReachable()) {
    log(`building ${REAL_ID} from hf:${REAL_REPO} (downloads 1.4 GB once, then about a minute to convert)`);
    await step(
      `building ${REAL_ID}`,
      ['build', '--checkpoint', `hf:${REAL_REPO}`, '--out', join(SHARDS, REAL_ID)],
      'run npm start again: the download resumes where it stopped (offline, npm start serves random weights instead)',
    );
    return REAL_ID;
  }
  log('the Hugging Face Hub is not reachable: building the random-weight full-size model instead (about a minute)');
  if (!existsSync(join(SYNTH, 'open_clip_model.safetensors')))
    await step(
      'making the random-weight checkpoint',
      ['synth', '--config', 'convnext_large_d_320', '--seed', '0', '--out', SYNTH],
      `check free disk space (it needs 1.5 GB in ${SYNTH}) and run npm start again`,
    );
  await step(
    `building ${RANDOM_ID}`,
    ['build', '--checkpoint', SYNTH, '--out', join(SHARDS, RANDOM_ID)],
    `check free disk space (it needs 2 GB in ${SHARDS}), delete ${SYNTH} and run npm start again`,
  );
  return RANDOM_ID;
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new StartError(
          `port ${port} on 127.0.0.1 is ${e.code === 'EADDRINUSE' ? 'already in use' : `not available (${e.code})`}`,
          `stop what holds it (an earlier npm start?) or run npm start -- --port <another port>`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        model: { type: 'string' },
        precisions: { type: 'string' },
        port: { type: 'string' },
        origin: { type: 'boolean' },
        segmented: { type: 'boolean' },
        'segment-budget': { type: 'string' },
      },
      args: process.argv.slice(2),
    }).values;
  } catch (e) {
    throw new StartError(
      errorLine(e),
      'options: --model <id> --precisions int8,fp32 --port <n> --origin --segmented [--segment-budget <MiB>]',
    );
  }
}

async function start(): Promise<void> {
  const values = parseOptions();
  const port = Number(values.port ?? 8787);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new StartError(`--port ${values.port} is not a port number`, 'use an integer from 1 to 65535');
  // The edge serves int8 by default; fp32 shards are seeded only when asked for (they are 1.4 GB).
  const precisions = (values.precisions ?? 'int8').split(',') as Precision[];
  for (const p of precisions)
    if (!(PRECISIONS as readonly string[]).includes(p))
      throw new StartError(`unknown precision ${p}`, `use --precisions ${PRECISIONS.join(',')} or a part of it`);
  // Before minutes of building, not after.
  await assertPortFree(port);
  removeStaleTemps(SHARDS);
  removeStaleTemps('.cache');

  let modelId = await ensureModel(values.model ?? process.env.EDGE_CLIP_MODEL);
  // The production topology: the same checkpoint cut into segments, one Worker each, behind the gateway.
  if (values.segmented) {
    try {
      modelId = await ensureSegmentedBuild(SHARDS, modelId, values['segment-budget'], log);
    } catch (e) {
      throw new StartError(
        `cutting ${modelId} into segments failed: ${errorLine(e)}`,
        'run npm start -- --segmented again with a larger --segment-budget, or npm start without --segmented',
      );
    }
  }
  await seedR2(join(SHARDS, modelId), precisions, log);
  await seedImagenet(join(SHARDS, modelId), log);
  if (modelId === RANDOM_ID) {
    const bar = '='.repeat(78);
    process.stderr.write(
      `\n${bar}\n  RANDOM WEIGHTS: ${modelId} has the real architecture and sizes but random\n  weights, so its embeddings are meaningless (responses carry X-Model-Weights: random).\n  For the real model run once online:  npx edge-clip build --checkpoint hf:${REAL_REPO} --out ${SHARDS}/${REAL_ID}\n${bar}\n\n`,
    );
  }
  const vars = [`MODEL_ID:${modelId}`];
  if (values.origin) {
    // fp32 locally: the origin (onnxruntime-node, CUDA when present) beside wrangler dev.
    const origin = await startOrigin({ modelDir: join(SHARDS, modelId), port: 8790 });
    vars.push(`ORIGIN_URL:${origin.url}`);
    log(`fp32 requests go to the origin at ${origin.url}`);
  }
  // Building may have taken minutes: someone may have taken the port meanwhile.
  await assertPortFree(port);
  if (values.segmented) {
    const { gateway, segments } = segmentConfigs(join(SHARDS, modelId));
    log(`gateway + ${segments.length} segment Workers (configs in .wrangler/segments/)`);
    const configs = ['-c', gateway, ...segments.flatMap((f) => ['-c', f]), '--persist-to', '.wrangler/state'];
    const child = spawnWranglerDev(port, [...configs, ...vars.flatMap((v) => ['--var', v])], { stdio: 'inherit' });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
    child.on('exit', (code) => process.exit(code ?? 0));
    return;
  }
  const served = await serveWorker({ port, vars: Object.fromEntries(vars.map((v) => v.split(/:(.*)/s, 2))) });
  log(`serving on ${served.url} (Ctrl-C stops it)`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      void served.dispose().finally(() => process.exit(0));
    });
}

try {
  await start();
} catch (e) {
  process.stderr.write(`npm start: ${errorLine(e)}\n`);
  if (process.env.EDGE_CLIP_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
