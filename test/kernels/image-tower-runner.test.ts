import { describe, expect, it } from 'vitest';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { diskReader } from '../../src/adapters/node/ort-runtimes.ts';
import { ImageTowerRunner } from '../../src/kernels/image-tower-runner.ts';
import { Kernels } from '../../src/kernels/kernels.ts';
import { towerInitializers } from '../../src/kernels/onnx-initializers.ts';
import { cosine, fixtureImages } from '../helpers/fixtures.ts';
import { OUTLIERS, OUTLIERS_ST, TINY, TINY_ST } from '../helpers/paths.ts';
import { openTowers } from '../helpers/towers.ts';

describe('the int8 image tower wholly in our kernels', () => {
  // The outlier fixture's build keeps outlier channels in fp32 beside int8 linears: the side-channel path.
  it.each([
    ['tiny', TINY_ST, TINY],
    ['outliers', OUTLIERS_ST, OUTLIERS],
  ])('agrees with onnxruntime-web running the same %s build (the same quantization)', async (_, dir, fixture) => {
    const m = readManifest(dir);
    const segments = m.towers.image.int8?.segments ?? [];
    const runner = ImageTowerRunner.load(
      await Kernels.create((await nodeKernelModules()).plain),
      await towerInitializers(segments, diskReader(dir)),
      m.preprocess.size,
    );
    const towers = await openTowers(dir, 'web');
    try {
      const images = fixtureImages(fixture);
      const size = 3 * m.preprocess.size ** 2;
      for (let i = 0; i < images.length / size; i++) {
        const pixels = images.subarray(i * size, (i + 1) * size);
        const ort = await towers.run('image', 'int8', pixels, [1, 3, m.preprocess.size, m.preprocess.size]);
        const ours = runner.run(pixels);
        expect(ours).toHaveLength(ort.length);
        // LayerNorm and the float convolutions sum in another order; the int8 parts are onnxruntime's exactly.
        expect(cosine(ours, ort), `image ${i}`).toBeGreaterThan(0.9999);
      }
    } finally {
      await towers.close();
    }
  });
});
