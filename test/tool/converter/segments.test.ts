import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunner, readManifest } from '../../../src/adapters/node/local-build.ts';
import { diskReader, loadOrt } from '../../../src/adapters/node/ort-runtimes.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../../src/contracts/tensors.ts';
import { limiter, loadTowerSessions, type ReadFile } from '../../../src/model/load-tower.ts';
import type { OrtModule } from '../../../src/model/ort-types.ts';
import { packIds } from '../../../src/model/text-batch.ts';
import { runCli } from '../../helpers/cli.ts';
import { expected, maxAbsDiff, rowCosines, tinyImages } from '../../helpers/fixtures.ts';
import { TEST_CACHE, TINY, TINY_ST, VOCAB } from '../../helpers/paths.ts';

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
      for (const precision of ['fp32', 'int8'] as const) {
        const seg = readManifest(SEGMENTED);
        const one = readManifest(TINY_ST);
        const a = await loadRunner(SEGMENTED, seg, 'image', precision, runtime);
        const b = await loadRunner(TINY_ST, one, 'image', precision, runtime);
        const imgA = await a.run(IMAGE_INPUT, tinyImages(), [3, 3, 64, 64]);
        const imgB = await b.run(IMAGE_INPUT, tinyImages(), [3, 3, 64, 64]);
        for (const c of rowCosines(imgA, imgB, 24)) expect(c).toBeGreaterThanOrEqual(0.99999);
        const ids = packIds(trimmed);
        const ta = await (await loadRunner(SEGMENTED, seg, 'text', precision, runtime)).run(
          TEXT_INPUT,
          ids.data,
          ids.dims,
        );
        const tb = await (await loadRunner(TINY_ST, one, 'text', precision, runtime)).run(
          TEXT_INPUT,
          ids.data,
          ids.dims,
        );
        for (const c of rowCosines(ta, tb, 24)) expect(c).toBeGreaterThanOrEqual(0.99999);
        if (precision === 'fp32') expect(maxAbsDiff(ta, expected.text_features.flat())).toBeLessThan(1e-4);
      }
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
    for (const s of sessions) await s.release();
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
    expect(created.length).toBe(segments.length - 1);
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
