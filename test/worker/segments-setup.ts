/**
 * Global setup of the `segments` project: the segment Worker bundled as `wrangler deploy` would upload it, and the
 * tiny model built twice with the same int8 quantization, cut into segments and whole, to compare the two.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildModel } from '../../tool/converter/build-model.ts';
import { ROOT, TINY, VOCAB, WORKER_MODELS } from '../helpers/paths.ts';
import { SEGMENT_BUNDLE, TEST_SEGMENTS } from './segment-workers.ts';

/** wrangler's own bundling, its .wasm as a module beside it (SEGMENT_BUNDLE, listed in vitest.config.ts). */
function bundleSegmentWorker(): void {
  const dir = dirname(SEGMENT_BUNDLE);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'wrangler.toml');
  writeFileSync(
    config,
    [
      'name = "edge-clip-seg-test"',
      `main = "${join(ROOT, 'src/segment-worker/index.ts')}"`,
      'compatibility_date = "2026-04-01"',
      'compatibility_flags = ["nodejs_compat"]',
    ].join('\n'),
  );
  const res = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', dir, '-c', config],
    { env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`bundling the segment Worker failed: ${res.stderr}`);
}

export default async function setup(): Promise<void> {
  bundleSegmentWorker();
  const common = { checkpoint: TINY, precisions: ['int8' as const], shardSize: 1 << 20, vocab: VOCAB, modelId: 'tiny' };
  // At least as many segments per tower as TEST_SEGMENTS runs Workers for (segments.test.ts checks the count),
  // each measured under a budget.
  const minSegments = Math.max(TEST_SEGMENTS.image, TEST_SEGMENTS.text);
  await buildModel({
    ...common,
    out: join(WORKER_MODELS, 'segments/tiny-segmented'),
    minSegments,
    segmentBudget: 64 * 2 ** 20,
  });
  await buildModel({ ...common, out: join(WORKER_MODELS, 'segments/tiny-whole') });
}
