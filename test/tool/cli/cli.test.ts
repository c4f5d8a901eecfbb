import { describe, expect, it } from 'vitest';
import { openLocalModel } from '../../../src/adapters/node/local-model.ts';
import { runCli } from '../../helpers/cli.ts';
import { expected, maxAbsDiff, tinyImages } from '../../helpers/fixtures.ts';
import { TINY, TINY_ST } from '../../helpers/paths.ts';

const normalize = (rows: number[][]) => rows.map((r) => r.map((v) => v / Math.hypot(...r)));

describe('edge-clip CLI', () => {
  it('embed --raw gives the reference features; the default is L2-normalized', async () => {
    const raw = await runCli([
      'embed',
      `--model=${TINY_ST}`,
      '--image-tensor',
      `${TINY}/images.f32`,
      '--shape',
      '3,3,64,64',
      '--raw',
      '--text',
      expected.texts[0],
      '--',
      ...expected.texts.slice(1),
    ]);
    expect(raw.code).toBe(0);
    const out = JSON.parse(raw.stdout);
    expect(maxAbsDiff(out.image_features.flat(), expected.image_features.flat())).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.text_features.flat(), expected.text_features.flat())).toBeLessThan(1e-4);
    const norm = JSON.parse(
      (await runCli(['embed', '--model', TINY_ST, '--runtime=web', '--text', expected.texts[0]])).stdout,
    );
    expect(maxAbsDiff(norm.text_features[0], normalize([expected.text_features[0]])[0])).toBeLessThan(1e-5);
    expect(tinyImages().length).toBe(3 * 3 * 64 * 64);
  });

  it('tokenize treats everything after -- as literal text', async () => {
    const res = await runCli(['tokenize', '--model', TINY_ST, '--', '--not-a-flag', expected.texts[0]]);
    expect(res.code).toBe(0);
    const { ids } = JSON.parse(res.stdout);
    expect(ids.length).toBe(2);
    expect(ids[1]).toEqual(expected.text_tokens[0]);
    const tokenizer = await (await openLocalModel(TINY_ST)).tokenizer();
    expect(ids[0]).toEqual(tokenizer.tokenizePadded('--not-a-flag'));
  });

  it.each([
    [
      ['embed', '--model', TINY_ST, '--image-tensor', `${TINY}/images.f32`, '--shape', '3,3,32,32'],
      /--shape must be N,3,64,64/,
    ],
    [['embed', '--model', '/nonexistent', '--text', 'x'], /manifest.json: missing/],
    [['embed', '--model', TINY_ST, '--precision', 'int4', '--text', 'x'], /--precision must be one of fp32, int8/],
    [['build', '--checkpoint'], /--checkpoint/],
    [['frobnicate'], /unknown command frobnicate/],
  ])('exits non-zero with a clear message: %j', async (args, message) => {
    const res = await runCli(args);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message);
  });
});
