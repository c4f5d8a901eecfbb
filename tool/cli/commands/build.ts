/** `edge-clip build`: checkpoint (folder, file or hf:REPO) → model-shards/<id>. */
import { existsSync } from 'node:fs';
import { DEFAULT_SEGMENT_BUDGET_MIB, PRECISIONS, type Precision, TOWERS } from '../../../src/contracts/manifest.ts';
import { SHIPPED_VOCAB } from '../../assets.ts';
import { resolveCheckpointFiles } from '../../checkpoint/load-checkpoint.ts';
import { buildModel } from '../../converter/build-model.ts';
import { DEFAULT_MAX_STEP_GFLOPS } from '../../converter/plan-segments.ts';
import { fetchHubCheckpoint, hubOptionsFromEnv } from '../../hub/hf-hub.ts';
import { intFlag, NO_LIMIT, type ParsedArgs, parse, parseSize, required, str, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

/** `--segment-budget <MiB or size>`, or the default budget with `--segmented`. */
function segmentBudget(args: ParsedArgs): number | undefined {
  const text = str(args, 'segment-budget') ?? (args.values.segmented ? String(DEFAULT_SEGMENT_BUDGET_MIB) : undefined);
  return text === undefined ? undefined : parseSize(/\d$/.test(text) ? `${text}MiB` : text);
}

function minCosine(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v >= -1 && v <= 1)) throw new UsageError('--min-int8-cos must be a number from -1 to 1');
  return v;
}

export async function build(argv: string[]) {
  const args = parse(argv, commandSpec('build'));
  const source = required(args, 'checkpoint');
  const out = required(args, 'out');
  const precisions = (str(args, 'precisions') ?? 'fp32,int8').split(',').map((p) => p.trim());
  for (const p of precisions) {
    if (!(PRECISIONS as readonly string[]).includes(p))
      throw new UsageError(`unknown precision ${p} (use ${PRECISIONS.join(', ')})`);
  }
  const vocab = str(args, 'vocab') ?? SHIPPED_VOCAB;
  if (!existsSync(vocab)) throw new UsageError(`--vocab ${vocab}: no such file`);
  const hub = hubOptionsFromEnv();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const checkpoint = source.startsWith('hf:')
    ? await fetchHubCheckpoint(source, hub)
    : resolveCheckpointFiles(source).weights;
  const t0 = Date.now();
  const manifest = await buildModel({
    checkpoint,
    out,
    precisions: precisions as Precision[],
    shardSize: parseSize(str(args, 'shard-size') ?? '32MiB'),
    vocab,
    sourceLabel: source,
    modelId: str(args, 'model-id'),
    segmentBudget: segmentBudget(args),
    minSegments: intFlag(args, 'segments', 1, NO_LIMIT),
    maxStepFlops: intFlag(args, 'step-gflops', 1, NO_LIMIT, DEFAULT_MAX_STEP_GFLOPS) * 1e9,
    calibration: str(args, 'calibration'),
    minInt8Cos: minCosine(str(args, 'min-int8-cos')),
    log,
  });
  const sizes = Object.fromEntries(
    Object.entries(manifest.towers).map(([t, b]) => [
      t,
      Object.fromEntries(Object.entries(b).map(([p, x]) => [p, x?.weightBytes])),
    ]),
  );
  return {
    out,
    modelId: manifest.modelId,
    buildHash: manifest.buildHash,
    weights: manifest.weights,
    weightBytes: sizes,
    int8Drift: Object.fromEntries(TOWERS.map((t) => [t, manifest.towers[t].int8?.drift ?? null])),
    int8Plan: Object.fromEntries(TOWERS.map((t) => [t, manifest.towers[t].int8?.int8Plan ?? null])),
    seconds: (Date.now() - t0) / 1000,
  };
}
