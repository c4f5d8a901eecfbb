/** Builds the tiny conformance checkpoint (both formats) once per test run with the real build tool. */
import { join } from 'node:path';
import { buildModel } from '../tool/converter/build-model.ts';
import { OUTLIERS, OUTLIERS_ST, TINY, TINY_PT, TINY_ST, VOCAB } from './helpers/paths.ts';

export default async function setup(): Promise<void> {
  await buildTiny(TINY_ST, TINY_PT);
  await buildModel({
    checkpoint: join(OUTLIERS, 'open_clip_model.safetensors'),
    out: OUTLIERS_ST,
    precisions: ['fp32', 'int8'],
    shardSize: 256 * 1024,
    vocab: VOCAB,
    modelId: 'outliers',
  });
}

/** Builds the tiny fixture from both checkpoint formats; small shards so that tensors span several of them. */
export async function buildTiny(safetensorsOut: string, pytorchOut: string): Promise<void> {
  const common = {
    precisions: ['fp32' as const, 'int8' as const],
    shardSize: 256 * 1024,
    vocab: VOCAB,
    modelId: 'tiny',
  };
  await buildModel({ ...common, checkpoint: join(TINY, 'open_clip_model.safetensors'), out: safetensorsOut });
  await buildModel({ ...common, checkpoint: join(TINY, 'open_clip_pytorch_model.bin'), out: pytorchOut });
}
