/** `edge-clip build`: checkpoint (folder, file or hf:REPO) → model-shards/<id>. */
import { PRECISIONS, type Precision } from '../../../src/shared/manifest.ts';
import { buildModel } from '../../build/build-model.ts';
import { resolveCheckpointFiles } from '../../checkpoint/load-checkpoint.ts';
import { fetchHubCheckpoint, fetchVocab, hubOptionsFromEnv } from '../../hub/hf-hub.ts';
import { parse, parseSize, required, str, UsageError } from '../args.ts';

export async function build(argv: string[]) {
  const args = parse(argv, {
    checkpoint: { type: 'string' },
    out: { type: 'string' },
    precisions: { type: 'string' },
    'shard-size': { type: 'string' },
    vocab: { type: 'string' },
    'model-id': { type: 'string' },
    'segment-budget': { type: 'string' },
  });
  const source = required(args, 'checkpoint');
  const out = required(args, 'out');
  const precisions = (str(args, 'precisions') ?? 'fp32,int8').split(',').map((p) => p.trim());
  for (const p of precisions) {
    if (!(PRECISIONS as readonly string[]).includes(p))
      throw new UsageError(`unknown precision ${p} (use ${PRECISIONS.join(', ')})`);
  }
  const hub = hubOptionsFromEnv();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const checkpoint = source.startsWith('hf:')
    ? await fetchHubCheckpoint(source, hub)
    : resolveCheckpointFiles(source).weights;
  const vocab = str(args, 'vocab') ?? (await fetchVocab(hub));
  const t0 = Date.now();
  const manifest = await buildModel({
    checkpoint,
    out,
    precisions: precisions as Precision[],
    shardSize: parseSize(str(args, 'shard-size') ?? '32MiB'),
    vocab,
    sourceLabel: source,
    modelId: str(args, 'model-id'),
    segmentBudget: str(args, 'segment-budget')
      ? parseSize(`${str(args, 'segment-budget')}${/\d$/.test(str(args, 'segment-budget')!) ? 'MiB' : ''}`)
      : undefined,
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
    seconds: (Date.now() - t0) / 1000,
  };
}
