import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLocalModel, readManifest } from '../../../src/adapters/node/local-model.ts';
import { decodeClassifier } from '../../../src/contracts/classifier-blob.ts';
import { classifyImages } from '../../../src/model/pipelines/classify.ts';
import { embedTexts } from '../../../src/model/pipelines/embed-texts.ts';
import { l2NormalizeRows } from '../../../src/model/postprocess.ts';
import { runCli } from '../../helpers/cli.ts';
import { PREPROCESS, TEST_CACHE, TINY_ST } from '../../helpers/paths.ts';

const dir = join(TEST_CACHE, 'prompts');

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
});

describe('edge-clip prompts build', () => {
  it('builds the ImageNet classifier: one normalized row per class = mean of its prompts’ normalized embeddings', async () => {
    const out = join(dir, 'in1k.ecls');
    const res = await runCli([
      'prompts',
      'build',
      '--model',
      TINY_ST,
      '--labelset',
      'imagenet1k', // the shipped set, by name
      '--templates',
      'simple',
      '--precision',
      'fp32',
      '--dtype',
      'float32',
      '--out',
      out,
    ]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ complete: true, labels: 1000, templates: 7, prompts: 7000 });
    expect(res.stderr).toMatch(/7000\/7000/);
    const { header, weights } = decodeClassifier(new Uint8Array(readFileSync(out)));
    expect(header).toMatchObject({
      name: 'imagenet1k',
      labels: expect.any(Array),
      dim: 24,
      buildHash: readManifest(TINY_ST).buildHash,
      precision: 'fp32',
    });
    // Class 0 ("tench") by hand: the mean of its prompts' normalized embeddings, each embedded alone.
    const model = await openLocalModel(TINY_ST);
    const mean = new Float32Array(24);
    for (const t of header.templates) {
      const e = await embedTexts(model, [t.replaceAll('{c}', header.labels[0])], { precision: 'fp32' });
      for (let i = 0; i < 24; i++) mean[i] += e.data[i];
    }
    await model.close();
    l2NormalizeRows(mean, 24);
    for (let i = 0; i < 24; i++) expect(weights[i]).toBeCloseTo(mean[i], 5);
  });

  it('resumes an interrupted build and produces the same classifier', async () => {
    const set = join(dir, 'small.json');
    writeFileSync(
      set,
      JSON.stringify({
        name: 'small',
        labels: ['cat', 'dog', 'car', 'tree', 'boat'],
        templates: ['a photo of a {c}.', 'a {c}.', 'art of a {c}.'],
      }),
    );
    const fresh = join(dir, 'fresh.ecls');
    const resumed = join(dir, 'resumed.ecls');
    expect(
      (await runCli(['prompts', 'build', '--model', TINY_ST, '--labelset', set, '--batch', '2', '--out', fresh])).code,
    ).toBe(0);
    const first = await runCli([
      'prompts',
      'build',
      '--model',
      TINY_ST,
      '--labelset',
      set,
      '--batch',
      '2',
      '--max-batches',
      '3',
      '--out',
      resumed,
    ]);
    expect(JSON.parse(first.stdout)).toMatchObject({ complete: false, computed_prompts: 6 });
    expect(existsSync(resumed)).toBe(false);
    expect(existsSync(`${resumed}.partial/rows.bin`)).toBe(true);
    const second = await runCli([
      'prompts',
      'build',
      '--model',
      TINY_ST,
      '--labelset',
      set,
      '--batch',
      '2',
      '--out',
      resumed,
    ]);
    expect(JSON.parse(second.stdout)).toMatchObject({ complete: true, resumed_prompts: 6, computed_prompts: 9 });
    expect(existsSync(`${resumed}.partial`)).toBe(false);
    expect(decodeClassifier(new Uint8Array(readFileSync(resumed))).weights).toEqual(
      decodeClassifier(new Uint8Array(readFileSync(fresh))).weights,
    );
  });

  it('resumes after a record cut in half: the cut is dropped, and what is appended after it is read back', async () => {
    const set = join(dir, 'cut.json');
    writeFileSync(
      set,
      JSON.stringify({ name: 'cut', labels: ['cat', 'dog', 'car', 'tree', 'boat'], templates: ['a {c}.'] }),
    );
    const out = join(dir, 'cut.ecls');
    const build = async (...extra: string[]) => {
      const args = ['prompts', 'build', '--model', TINY_ST, '--labelset', set, '--batch', '1', ...extra, '--out', out];
      const res = await runCli(args);
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as { complete: boolean; resumed_prompts: number; computed_prompts: number };
    };
    expect(await build('--max-batches', '3')).toMatchObject({ complete: false, computed_prompts: 3 });
    const rows = `${out}.partial/rows.bin`;
    truncateSync(rows, statSync(rows).size - 10);
    // The cut prompt is computed again and appended after the cut.
    expect(await build('--max-batches', '1')).toMatchObject({
      complete: false,
      resumed_prompts: 2,
      computed_prompts: 1,
    });
    expect(await build()).toMatchObject({ complete: true, resumed_prompts: 3, computed_prompts: 2 });
    const fresh = join(dir, 'cut-fresh.ecls');
    expect((await runCli(['prompts', 'build', '--model', TINY_ST, '--labelset', set, '--out', fresh])).code).toBe(0);
    expect(decodeClassifier(new Uint8Array(readFileSync(out))).weights).toEqual(
      decodeClassifier(new Uint8Array(readFileSync(fresh))).weights,
    );
  });

  it('refuses a label set file that is not one', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'bad', labels: [] }));
    const res = await runCli(['prompts', 'build', '--model', TINY_ST, '--labelset', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/labels must be a non-empty array/);
  });
});

describe('edge-clip eval', () => {
  it('reports top-1/top-5 over an ImageFolder equal to a direct computation', async () => {
    const set = join(dir, 'eval-set.json');
    const labels = ['cat', 'woman', 'rocket', 'motorcycle', 'dog', 'tree'];
    writeFileSync(set, JSON.stringify({ name: 'evalset', labels }));
    const blob = join(dir, 'evalset.ecls');
    expect((await runCli(['prompts', 'build', '--model', TINY_ST, '--labelset', set, '--out', blob])).code).toBe(0);
    const data = join(dir, 'dataset');
    const files: [string, number][] = [
      ['chelsea.png', 0],
      ['grace_hopper.jpg', 1],
      ['rocket.jpg', 2],
      ['motorcycle_exif6.jpg', 3],
      ['chelsea_tiny_40x30.png', 0],
    ];
    for (const [f, cls] of files) {
      mkdirSync(join(data, String(cls)), { recursive: true });
      cpSync(join(PREPROCESS, f), join(data, String(cls), f));
    }
    const res = await runCli(['eval', '--model', TINY_ST, '--labelset', blob, '--dataset', data]);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    // The counting, checked against the classify pipeline image by image.
    const model = await openLocalModel(TINY_ST);
    const { weights } = decodeClassifier(new Uint8Array(readFileSync(blob)));
    let top1 = 0;
    let top5 = 0;
    for (const [f, cls] of files) {
      const image = new Uint8Array(readFileSync(join(PREPROCESS, f)));
      const [scores] = await classifyImages(
        model,
        [image],
        { weights, labels },
        { precision: 'int8', topK: 5, maxPixels: 40e6 },
      );
      const ranked = scores.map((r) => r.index);
      if (ranked[0] === cls) top1++;
      if (ranked.includes(cls)) top5++;
    }
    await model.close();
    expect(report).toMatchObject({ images: 5, top1: top1 / 5, top5: top5 / 5, failures: [] });

    // A build whose image tower cannot load fails once, naming it; not a report of five failed images.
    const broken = join(dir, 'broken-build');
    cpSync(TINY_ST, broken, { recursive: true });
    const shard = readdirSync(broken).find((f) => f.startsWith('image.int8.d0.bin'));
    expect(shard).toBeDefined();
    truncateSync(join(broken, shard!), 100);
    const failed = await runCli(['eval', '--model', broken, '--labelset', blob, '--dataset', data]);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toContain(shard!);
  });
});
