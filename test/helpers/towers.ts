/**
 * Raw tower runs of a build for conformance-style tests: the model's own towers (loaded as every caller loads them),
 * given ready model input, with no pre- or post-processing.
 */
import { openLocalModel } from '../../src/adapters/node/local-model.ts';
import type { RuntimeName } from '../../src/adapters/node/ort-runtimes.ts';
import type { Precision, TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import type { TowerInput } from '../../src/model/ports.ts';

export interface Towers {
  run(tower: TowerName, precision: Precision, data: TowerInput, dims: readonly number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

export async function openTowers(dir: string, runtime: RuntimeName = 'node'): Promise<Towers> {
  const model = await openLocalModel(dir, { runtime });
  return {
    run: async (tower, precision, data, dims) =>
      (await model.tower(tower, precision)).run(tower === 'image' ? IMAGE_INPUT : TEXT_INPUT, data, dims),
    close: () => model.close(),
  };
}
