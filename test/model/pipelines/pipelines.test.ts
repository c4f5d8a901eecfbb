/** The pipelines on a local build: batching, the cache tiers and uses, the limits and the abort signal. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalModel } from '../../../src/adapters/node/local-model.ts';
import type { EdgeClipError } from '../../../src/contracts/errors.ts';
import type { ClipModel } from '../../../src/model/clip-model.ts';
import { EmbeddingCache, MemoryLru, RequestCache } from '../../../src/model/embedding-cache.ts';
import { classifyImages, labelSetClassifier } from '../../../src/model/pipelines/classify.ts';
import { embedImages } from '../../../src/model/pipelines/embed-images.ts';
import { embedTexts } from '../../../src/model/pipelines/embed-texts.ts';
import { expected, maxAbsDiff } from '../../helpers/fixtures.ts';
import { PREPROCESS, TINY_ST } from '../../helpers/paths.ts';

let model: ClipModel;
beforeAll(async () => {
  model = await openLocalModel(TINY_ST);
});
afterAll(() => model.close());

const int8 = { precision: 'int8' } as const;

describe('the text pipeline', () => {
  it('gives every text the same row whatever the batch it runs in', async () => {
    const all = await embedTexts(model, expected.texts, int8);
    const one = await embedTexts(model, expected.texts, { ...int8, batch: 1 });
    const three = await embedTexts(model, expected.texts, { ...int8, batch: 3 });
    expect(all.data).toHaveLength(expected.texts.length * 24);
    expect(maxAbsDiff(one.data, all.data)).toBeLessThan(1e-5);
    expect(maxAbsDiff(three.data, all.data)).toBeLessThan(1e-5);
    expect(all.computed).toBe(expected.texts.length);
    // The long fixture text is cut to the context length, as OpenCLIP does.
    expect(all.truncated).toEqual([6]);
    expect(Math.max(...all.tokens)).toBe(77);
  });

  it('reads and stores through the cache; prompt-only tiers keep only label-set prompts', async () => {
    const shared = new MemoryLru(64);
    const promptsOnly = new MemoryLru(64);
    const cache = () =>
      new RequestCache(new EmbeddingCache([{ store: shared }, { store: promptsOnly, uses: ['prompt'] }]));
    const texts = ['a photo of a cat.', 'a photo of a dog.'];
    const first = await embedTexts(model, texts, { ...int8, cache: cache() });
    expect(first.computed).toBe(2);
    expect([shared.size, promptsOnly.size]).toEqual([2, 0]);
    const again = cache();
    const second = await embedTexts(model, texts, { ...int8, cache: again });
    expect(second.computed).toBe(0);
    expect(again.status).toBe('hit');
    expect(maxAbsDiff(second.data, first.data)).toBe(0);
    // A label set's prompts share the texts' keys: the shared tier answers those already embedded as texts.
    const set = { name: 's', labels: ['cat', 'dog'], templates: ['a photo of a {c}.'] };
    expect((await labelSetClassifier(model, set, { ...int8, cache: cache() })).computed).toBe(0);
    // Prompts computed afresh go to the prompt tier too.
    const other = { name: 'o', labels: ['boat', 'car', 'tree'], templates: ['a photo of a {c}.'] };
    expect((await labelSetClassifier(model, other, { ...int8, cache: cache() })).computed).toBe(3);
    expect([shared.size, promptsOnly.size]).toEqual([5, 3]);
  });

  it('refuses more texts to compute than allowed before loading anything, naming the advice', async () => {
    const fresh = await openLocalModel(TINY_ST);
    const texts = Array.from({ length: 5 }, (_, i) => `prompt number ${i}`);
    const run = embedTexts(fresh, texts, {
      ...int8,
      prompts: true,
      maxComputed: { count: 4, advice: 'store a label set' },
    });
    await expect(run).rejects.toThrow(
      /5 of these prompts are not cached and at most 4 are computed per request: store a label set/,
    );
    await run.catch((e: EdgeClipError) => expect(e.status).toBe(413));
    expect(fresh.isLoaded('text', 'int8')).toBe(false);
    await fresh.close();
  });

  it('stops between tower runs once its signal is aborted (a client that has gone)', async () => {
    const stop = new AbortController();
    const runs: number[] = [];
    const texts = Array.from({ length: 6 }, (_, i) => `abort test ${i}`);
    const run = embedTexts(model, texts, {
      ...int8,
      batch: 2,
      signal: stop.signal,
      onProgress: (done) => {
        runs.push(done);
        stop.abort(new Error('client went away'));
      },
    });
    await expect(run).rejects.toThrow('client went away');
    expect(runs).toEqual([2]);
  });
});

describe('the image and classify pipelines', () => {
  const jpeg = new Uint8Array(readFileSync(join(PREPROCESS, 'motorcycle_exif6.jpg')));

  it('keys the cache by orientation: the same bytes read with EXIF applied are another input', async () => {
    const lru = new MemoryLru(8);
    const cache = () => new RequestCache(new EmbeddingCache([{ store: lru }]));
    const options = { ...int8, maxPixels: 40e6 };
    const ignored = await embedImages(model, [jpeg], { ...options, cache: cache() });
    const applied = await embedImages(model, [jpeg], { ...options, orientation: 'exif', cache: cache() });
    expect(lru.size).toBe(2);
    expect(maxAbsDiff(ignored.data, applied.data)).toBeGreaterThan(1e-3);
  });

  it('refuses an image over the pixel limit before decoding (413)', async () => {
    await expect(embedImages(model, [jpeg], { ...int8, maxPixels: 100 })).rejects.toMatchObject({ status: 413 });
  });

  it('ranks every label by softmax(exp(logit_scale)·cos), scores summing to 1', async () => {
    const set = { name: 's', labels: ['cat', 'dog', 'motorcycle'], templates: ['a photo of a {c}.'] };
    const classifier = await labelSetClassifier(model, set, int8);
    const [scores] = await classifyImages(model, [jpeg], classifier, { ...int8, maxPixels: 40e6, topK: 3 });
    expect(scores).toHaveLength(3);
    expect(scores.reduce((a, s) => a + s.score, 0)).toBeCloseTo(1, 5);
    expect(scores[0].score).toBeGreaterThanOrEqual(scores[1].score);
  });
});

describe('closing a model', () => {
  it('waits for the loads under way and frees what they load; nothing runs or loads after it', async () => {
    const m = await openLocalModel(TINY_ST);
    const embedding = embedTexts(m, ['a photo of a cat'], int8);
    const loading = m.tower('text', 'int8');
    // Before the tower has loaded: its load finishes, and its sessions are freed all the same.
    await m.close();
    const tower = await loading;
    await expect(tower.run('input_ids', BigInt64Array.from([49406n, 49407n]), [1, 2])).rejects.toThrow(
      'the tower was closed',
    );
    // A request that was waiting for the tower fails clearly rather than running on freed sessions.
    await expect(embedding).rejects.toThrow(/was closed/);
    await expect(m.tower('image', 'int8')).rejects.toThrow('the model was closed');
  });
});
