import { describe, expect, it } from 'vitest';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { diskReader } from '../../src/adapters/node/ort-runtimes.ts';
import { Kernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../../src/kernels/text-tower-runner.ts';
import { rowCosines } from '../../tool/quantize/row-cosines.ts';
import { Rng } from '../../tool/synth/synth-checkpoint.ts';
import { OUTLIERS_ST, TINY_ST } from '../helpers/paths.ts';
import { openTowers } from '../helpers/towers.ts';

const SOT = 49406;
const EOT = 49407;

/** Prompts of seeded lengths (1 to `sequence` − 2 words), padded with zeros after EOT as the tokenizer pads them. */
function promptBatch(seed: number, batch: number, sequence: number): BigInt64Array {
  const rng = new Rng(seed);
  const ids = new BigInt64Array(batch * sequence);
  for (let b = 0; b < batch; b++) {
    const words = 1 + Math.floor(rng.uniform() * (sequence - 2));
    ids[b * sequence] = BigInt(SOT);
    for (let t = 1; t <= words; t++) ids[b * sequence + t] = BigInt(Math.floor(rng.uniform() * 49000));
    ids[b * sequence + words + 1] = BigInt(EOT);
  }
  return ids;
}

describe('the int8 text tower wholly in our kernels', () => {
  // The outlier fixture's build keeps outlier channels in fp32 beside int8 linears and in the token table.
  it.each([
    ['tiny', TINY_ST],
    ['outliers', OUTLIERS_ST],
  ])(
    'agrees with onnxruntime-web running the same %s build, and a row never depends on its batch-mates',
    async (_, dir) => {
      const m = readManifest(dir);
      const segments = m.towers.text.int8?.segments ?? [];
      const runner = TextTowerRunner.load(
        await Kernels.create((await nodeKernelModules()).plain),
        await towerInitializers(segments, diskReader(dir)),
        textHeads(m),
      );
      const towers = await openTowers(dir, 'web');
      try {
        for (const [seed, batch, sequence] of [
          [1, 1, 5],
          [2, 6, 20],
          [3, 3, 77],
        ]) {
          const ids = promptBatch(seed, batch, sequence);
          const ort = await towers.run('text', 'int8', ids, [batch, sequence]);
          const ours = runner.run(ids, batch, sequence);
          expect(ours).toHaveLength(ort.length);
          for (const [b, c] of rowCosines(ours, ort, m.embedDim).entries())
            expect(c, `seed ${seed} prompt ${b}`).toBeGreaterThan(0.9999);
          for (let b = 0; b < batch; b++) {
            const alone = runner.run(ids.subarray(b * sequence, (b + 1) * sequence), 1, sequence);
            expect(alone).toEqual(ours.subarray(b * m.embedDim, (b + 1) * m.embedDim));
          }
        }
      } finally {
        await towers.close();
      }
    },
  );
});
