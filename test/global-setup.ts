/** Builds the tiny conformance checkpoint (both formats) once per test run with the real build tool. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel } from '../tool/build/build-model.ts';
import { TEST_CACHE, TINY, TINY_PT, TINY_ST, VOCAB } from './helpers/paths.ts';

export default async function setup(): Promise<void> {
  mkdirSync(TEST_CACHE, { recursive: true });
  const common = { precisions: ['fp32', 'int8'] as const, shardSize: 256 * 1024, vocab: VOCAB, modelId: 'tiny' };
  await buildModel({
    ...common,
    precisions: [...common.precisions],
    checkpoint: join(TINY, 'open_clip_model.safetensors'),
    out: TINY_ST,
  });
  await buildModel({
    ...common,
    precisions: [...common.precisions],
    checkpoint: join(TINY, 'open_clip_pytorch_model.bin'),
    out: TINY_PT,
  });
}
