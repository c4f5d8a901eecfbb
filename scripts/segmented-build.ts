/**
 * The segmented twin of a build (`<id>-seg`, int8, cut under a measured memory budget), made from the same checkpoint
 * when it is missing, was cut under another budget, or is older than the build it is derived from.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { DEFAULT_SEGMENT_BUDGET_MIB } from '../src/contracts/manifest.ts';
import { runEdgeClip } from './edge-clip.ts';

export async function ensureSegmentedBuild(
  shards: string,
  modelId: string,
  budgetMiB: string | undefined,
  log: (line: string) => void,
): Promise<string> {
  const segId = modelId.endsWith('-seg') ? modelId : `${modelId}-seg`;
  const dir = join(shards, segId);
  const mib = Number(budgetMiB ?? DEFAULT_SEGMENT_BUDGET_MIB);
  if (!(mib >= 1)) throw new Error(`--segment-budget ${budgetMiB} is not a number of MiB`);
  const budget = Math.floor(mib * 2 ** 20);
  const source = readManifest(join(shards, modelId));
  const seg = existsSync(join(dir, 'manifest.json')) ? readManifest(dir) : undefined;
  // Current: cut under this budget, and built after the source build (whose graphs it must match).
  const current =
    seg &&
    seg.createdAt >= source.createdAt &&
    Object.values(seg.towers).every((t) => t.int8?.segmentBudget === budget);
  if (current) return segId;

  log(`building ${segId}: ${modelId} cut into segment Workers of ≤ ${budget / 2 ** 20} MiB measured`);
  await runEdgeClip([
    'build',
    '--checkpoint',
    source.source.checkpoint,
    '--out',
    dir,
    '--precisions',
    'int8',
    '--segment-budget',
    `${budget}B`,
    // The source build's own copy: no download, and the same vocabulary.
    '--vocab',
    join(shards, modelId, source.tokenizer.vocab.file),
  ]);
  return segId;
}
