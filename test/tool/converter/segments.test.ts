import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { diskReader, loadOrt } from '../../../src/adapters/node/ort-runtimes.ts';
import { limiter } from '../../../src/model/limiter.ts';
import { loadTowerSessions } from '../../../src/model/load-tower.ts';
import type { OrtModule, ReadFile } from '../../../src/model/ports.ts';
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
