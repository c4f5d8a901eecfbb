import { describe, expect, it } from 'vitest';
import { nodeDecoderModules } from '../../src/adapters/node/image-wasm-node.ts';
import { nodeKernelModules } from '../../src/adapters/node/kernel-wasm.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { diskReader, loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { decodeInferResponse, encodeInferRequest } from '../../src/contracts/inference-protocol.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { sha256Hex } from '../../src/contracts/sha256.ts';
import { IMAGE_INPUT } from '../../src/contracts/tensors.ts';
import { ClipModel } from '../../src/model/clip-model.ts';
import type { ReadFile } from '../../src/model/ports.ts';
import { SegmentHost } from '../../src/model/segment-host.ts';
import { cosine } from '../helpers/fixtures.ts';
import { OUTLIERS_ST } from '../helpers/paths.ts';
import { openTowers } from '../helpers/towers.ts';

/**
 * The outlier build as builds before the kernels were: a linear's fp32 channel indices unnamed (renamed here in the
 * graph, every use with it, so the session still runs; the manifest's hash to match).
 */
async function olderBuild() {
  const m = readManifest(OUTLIERS_ST);
  const original = m.towers.image.int8!.segments[0];
  const disk = diskReader(OUTLIERS_ST);
  const old = new TextEncoder().encode('fp32_channels');
  const graph = (await disk(original.graph)).bytes.slice();
  let renamed = 0;
  for (let i = graph.indexOf(old[0]); i >= 0; i = graph.indexOf(old[0], i + 1))
    if (old.every((b, k) => graph[i + k] === b)) {
      graph[i + 8] = 'A'.charCodeAt(0);
      renamed++;
    }
  expect(renamed).toBeGreaterThan(0);
  const segment = { ...original, graph: { ...original.graph, sha256: await sha256Hex(graph) } };
  const read: ReadFile = async (ref, into) => (ref.file === segment.graph.file ? { bytes: graph } : disk(ref, into));
  const manifest: ModelManifest = {
    ...m,
    towers: { ...m.towers, image: { ...m.towers.image, int8: { ...m.towers.image.int8!, segments: [segment] } } },
  };
  const s = m.preprocess.size;
  const pixels = Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i * 0.013));
  const towers = await openTowers(OUTLIERS_ST, 'web');
  const expected = await towers.run('image', 'int8', pixels, [1, 3, s, s]);
  await towers.close();
  return { manifest, segment, read, pixels, expected, dims: [1, 3, s, s] };
}

describe('a build older than the names the kernels read', () => {
  it('is served by its session in a segment host, which says so', async () => {
    const { manifest: m, segment, read, pixels, expected, dims } = await olderBuild();
    const host = new SegmentHost({
      ort: await loadOrt('web'),
      segment: async () => segment,
      read,
      tower: 'image',
      index: 0,
      kernels: { modules: await nodeKernelModules(), manifest: async () => m },
    });
    expect((await host.stats()).engine).toBe('kernels');
    const req = encodeInferRequest(
      [{ name: 'pixel_values', datatype: 'FP32', shape: dims, data: pixels }],
      [segment.outputs[0].name],
    );
    const res = await host.run(req.body, req.headerLength ?? 0);
    const [out] = decodeInferResponse(res.body, String(res.headerLength)).outputs;
    expect((await host.stats()).engine).toBe('onnxruntime');
    expect(cosine(out.data as Float32Array, expected)).toBeGreaterThan(0.99999);
    await host.release();
  });

  it('is served by its sessions in an isolate whose int8 towers run in the kernels, and /v1/models would say so', async () => {
    const { manifest, read, pixels, expected, dims } = await olderBuild();
    const model = ClipModel.open({
      ort: await loadOrt('web'),
      readManifest: async () => manifest,
      read,
      decoders: nodeDecoderModules(),
      kernels: { modules: await nodeKernelModules(), towers: ['image', 'text'] },
    });
    try {
      const tower = await model.tower('image', 'int8');
      expect(cosine(await tower.run(IMAGE_INPUT, pixels, dims), expected)).toBeGreaterThan(0.99999);
      expect(model.loads.map((l) => `${l.tower}:${l.engine}`)).toEqual(['image:onnxruntime']);
    } finally {
      await model.close();
    }
  });
});
