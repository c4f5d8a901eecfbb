import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { SHIPPED_VOCAB, SHIPPED_VOCAB_SHA256 } from '../../../tool/assets.ts';
import { runCli } from '../../helpers/cli.ts';
import { ROOT, TEST_CACHE, TINY } from '../../helpers/paths.ts';

/** A child process in which every fetch, socket connect and DNS lookup throws. */
const OFFLINE = { NODE_OPTIONS: `--import=${resolve(ROOT, 'test/helpers/no-network.mjs')}` };

describe('edge-clip build with the network off', () => {
  it('builds with the shipped vocabulary and makes no network request', async () => {
    const out = join(TEST_CACHE, 'models/tiny-offline');
    const res = await runCli(['build', '--checkpoint', TINY, '--out', out, '--precisions', 'fp32'], OFFLINE);
    expect(res.stderr).not.toMatch(/network access refused/);
    expect(res.code).toBe(0);
    expect(readManifest(out).tokenizer.vocab.sha256).toBe(SHIPPED_VOCAB_SHA256);
  });

  it('the guard is real: a build that needs the network fails, ending in one line', async () => {
    const res = await runCli(
      ['build', '--checkpoint', 'hf:laion/tiny-test', '--out', join(TEST_CACHE, 'models/offline-hub')],
      { ...OFFLINE, HF_ENDPOINT: 'http://127.0.0.1:9', EDGE_CLIP_CACHE: join(TEST_CACHE, 'offline-cache') },
    );
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n').at(-1)).toMatch(/^edge-clip build: .*network access refused/);
  });

  it('refuses a damaged copy of the OpenCLIP vocabulary before building anything', async () => {
    const dir = join(TEST_CACHE, 'damaged-vocab');
    mkdirSync(dir, { recursive: true });
    const vocab = readFileSync(SHIPPED_VOCAB);
    vocab[vocab.length >> 1] ^= 1;
    writeFileSync(join(dir, basename(SHIPPED_VOCAB)), vocab);
    const out = join(TEST_CACHE, 'models/damaged-vocab');
    const res = await runCli([
      'build',
      '--checkpoint',
      TINY,
      '--out',
      out,
      '--vocab',
      join(dir, basename(SHIPPED_VOCAB)),
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(
      /is not the vocabulary this project ships \(sha256 [0-9a-f]{12}…, expected 924691ac288e…\)/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a --vocab that does not exist', async () => {
    const res = await runCli(['build', '--checkpoint', TINY, '--out', join(TEST_CACHE, 'x'), '--vocab', 'nope.gz']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--vocab nope\.gz: no such file/);
  });
});
