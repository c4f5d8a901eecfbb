import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeKernelModules } from '../../../src/adapters/node/kernel-wasm.ts';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { diskReader, loadOrt } from '../../../src/adapters/node/ort-runtimes.ts';
import { decodeInferResponse, encodeInferRequest, type V2Tensor } from '../../../src/contracts/inference-protocol.ts';
import { ImageTowerRunner } from '../../../src/kernels/image-tower-runner.ts';
import { Kernels } from '../../../src/kernels/kernels.ts';
import { towerInitializers } from '../../../src/kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../../../src/kernels/text-tower-runner.ts';
import { limiter } from '../../../src/model/limiter.ts';
import { loadTowerSessions } from '../../../src/model/load-tower.ts';
import type { OrtModule, ReadFile } from '../../../src/model/ports.ts';
import { SegmentHost } from '../../../src/model/segment-host.ts';
import { SessionChain } from '../../../src/model/session-chain.ts';
import { packIds } from '../../../src/model/text-batch.ts';
import { runCli } from '../../helpers/cli.ts';
import { expected, maxAbsDiff, rowCosines, tinyImages } from '../../helpers/fixtures.ts';
import { TEST_CACHE, TINY, TINY_ST, VOCAB } from '../../helpers/paths.ts';
import { openTowers } from '../../helpers/towers.ts';

const SEGMENTED = join(TEST_CACHE, 'models/tiny-segmented');
const trimmed = expected.text_tokens.map((ids) => ids.slice(0, ids.indexOf(49407) + 1));

beforeAll(async () => {
  const res = await runCli(['build', '--checkpoint', TINY, '--out', SEGMENTED, '--vocab', VOCAB, '--segments', '3']);
  if (res.code !== 0) throw new Error(res.stderr);
});

describe('build --segments', () => {
  it('cuts each tower into at least 3 segments chained by named activations', () => {
    const m = readManifest(SEGMENTED);
    for (const tower of ['image', 'text'] as const) {
      for (const precision of ['fp32', 'int8'] as const) {
        const segs = m.towers[tower][precision]!.segments;
        expect(segs.length).toBeGreaterThanOrEqual(3);
        // Each segment's activation input is what the previous one outputs.
        for (let i = 1; i < segs.length; i++) {
          const hidden = segs[i].inputs.find((t) => t.name.startsWith('hidden_'));
          expect(segs[i - 1].outputs.map((o) => o.name)).toContain(hidden?.name);
        }
        expect(segs[segs.length - 1].outputs[0].name).toBe(tower === 'image' ? 'image_embeds' : 'text_embeds');
      }
    }
  });

  it.each(['node', 'web'] as const)(
    'segmented towers give the single-segment results in onnxruntime-%s',
    async (runtime) => {
      const segmented = await openTowers(SEGMENTED, runtime);
      const whole = await openTowers(TINY_ST, runtime);
      for (const precision of ['fp32', 'int8'] as const) {
        const imgA = await segmented.run('image', precision, tinyImages(), [3, 3, 64, 64]);
        const imgB = await whole.run('image', precision, tinyImages(), [3, 3, 64, 64]);
        const imageCos = rowCosines(imgA, imgB, 24);
        expect(imageCos).toHaveLength(3);
        for (const c of imageCos) expect(c).toBeGreaterThanOrEqual(0.99999);
        const ids = packIds(trimmed);
        const ta = await segmented.run('text', precision, ids.data, ids.dims);
        const tb = await whole.run('text', precision, ids.data, ids.dims);
        const textCos = rowCosines(ta, tb, 24);
        expect(textCos).toHaveLength(trimmed.length);
        for (const c of textCos) expect(c).toBeGreaterThanOrEqual(0.99999);
        if (precision === 'fp32') expect(maxAbsDiff(ta, expected.text_features.flat())).toBeLessThan(1e-4);
      }
      await Promise.all([segmented.close(), whole.close()]);
    },
  );
});

describe('loading a segmented tower', () => {
  it('reads every segment at once under one limit on files in flight', async () => {
    const m = readManifest(SEGMENTED);
    const ort = await loadOrt('web');
    const disk = diskReader(SEGMENTED);
    let inFlight = 0;
    let most = 0;
    const read: ReadFile = async (ref, into) => {
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((r) => setTimeout(r, 5));
        return await disk(ref, into);
      } finally {
        inFlight--;
      }
    };
    const sessions = await loadTowerSessions(ort, m, 'text', 'int8', read, { concurrency: 3 });
    expect(sessions).toHaveLength(m.towers.text.int8!.segments.length);
    expect(most).toBe(3);
    await new SessionChain(ort, sessions).release();
  });

  it('fails whole when one segment fails, and frees the sessions of the others', async () => {
    const m = readManifest(SEGMENTED);
    const ort = await loadOrt('web');
    const disk = diskReader(SEGMENTED);
    const segments = m.towers.image.int8!.segments;
    const broken = segments[segments.length - 1].graph.file;
    const created: string[] = [];
    const released: string[] = [];
    const counting = {
      ...ort,
      InferenceSession: {
        create: async (...args: Parameters<typeof ort.InferenceSession.create>) => {
          const s = await ort.InferenceSession.create(...args);
          const id = `s${created.length}`;
          created.push(id);
          const release = s.release.bind(s);
          s.release = () => {
            released.push(id);
            return release();
          };
          return s;
        },
      },
    } as OrtModule;
    const read: ReadFile = (ref, into) =>
      ref.file === broken ? Promise.reject(new Error('storage went away')) : disk(ref, into);
    await expect(loadTowerSessions(counting, m, 'image', 'int8', read)).rejects.toThrow('storage went away');
    // Every segment but the broken one, plus the runtime's start-up session (a fresh module: ort-runtime.ts).
    expect(created.length).toBe(segments.length);
    expect(released.sort()).toEqual(created.sort());
  });

  it('the limiter hands a finished slot to the next task in arrival order', async () => {
    const limit = limiter(2);
    const started: number[] = [];
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        limit(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 2 + ((i * 3) % 5)));
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

describe('segments in our kernels (a segment Worker’s default engine)', () => {
  /** Runs a tower's segments one by one through segment hosts, each in the engine `engines` names, as binary bodies. */
  async function chain(tower: 'image' | 'text', engines: ('kernels' | 'onnxruntime')[], first: V2Tensor[]) {
    const m = readManifest(SEGMENTED);
    const segments = m.towers[tower].int8!.segments;
    const modules = await nodeKernelModules();
    const ort = await loadOrt('web');
    let tensors = first;
    for (const [i, segment] of segments.entries()) {
      const host = new SegmentHost({
        ort,
        segment: async () => segment,
        read: diskReader(SEGMENTED),
        tower,
        index: i,
        kernels: engines[i] === 'kernels' ? { modules, manifest: async () => m } : undefined,
      });
      const own = tensors.filter((t) => segment.inputs.some((s) => s.name === t.name));
      const req = encodeInferRequest(
        own,
        segment.outputs.map((o) => o.name),
      );
      const res = await host.run(req.body, req.headerLength ?? 0);
      const out = decodeInferResponse(res.body, String(res.headerLength)).outputs;
      expect((await host.stats()).engine).toBe(engines[i]);
      await host.release();
      // Text segments take the ids again beside the stream.
      tensors = [...first.filter((t) => t.name === 'input_ids'), ...out];
    }
    return tensors[tensors.length - 1].data as Float32Array;
  }

  it('chain to the whole tower’s kernel result exactly, and with onnxruntime-web segments between them', async () => {
    const m = readManifest(SEGMENTED);
    const kernels = await Kernels.create((await nodeKernelModules()).plain);
    const imageWhole = ImageTowerRunner.load(
      kernels,
      await towerInitializers(m.towers.image.int8!.segments, diskReader(SEGMENTED)),
      64,
    );
    const ids = packIds(trimmed);
    const textWhole = TextTowerRunner.load(
      kernels,
      await towerInitializers(m.towers.text.int8!.segments, diskReader(SEGMENTED)),
      textHeads(m),
    );
    const pixels = tinyImages().subarray(0, 3 * 64 * 64);
    const image: V2Tensor[] = [{ name: 'pixel_values', datatype: 'FP32', shape: [1, 3, 64, 64], data: pixels }];
    const text: V2Tensor[] = [{ name: 'input_ids', datatype: 'INT64', shape: [...ids.dims], data: ids.data }];
    const n = (tower: 'image' | 'text') => m.towers[tower].int8!.segments.length;
    const all = (tower: 'image' | 'text') => Array.from({ length: n(tower) }, () => 'kernels' as const);
    const mixed = (tower: 'image' | 'text') =>
      Array.from({ length: n(tower) }, (_, i) => (i % 2 ? 'onnxruntime' : 'kernels') as 'kernels' | 'onnxruntime');
    // The same arithmetic in the same order, only cut: bit for bit.
    expect(await chain('image', all('image'), image)).toEqual(imageWhole.run(pixels));
    expect(await chain('text', all('text'), text)).toEqual(textWhole.run(ids.data, ids.dims[0], ids.dims[1]));
    // Mixed with onnxruntime's segments the layouts must agree (NHWC maps, padded text streams); the numbers then
    // differ by the engines' rounding only.
    const whole = await openTowers(SEGMENTED, 'web');
    try {
      const imageRef = await whole.run('image', 'int8', pixels, [1, 3, 64, 64]);
      for (const c of rowCosines(await chain('image', mixed('image'), image), imageRef, 24))
        expect(c).toBeGreaterThan(0.999);
      const textRef = await whole.run('text', 'int8', ids.data, ids.dims);
      for (const c of rowCosines(await chain('text', mixed('text'), text), textRef, 24))
        expect(c).toBeGreaterThan(0.999);
    } finally {
      await whole.close();
    }
  });
});
