import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { runCli } from '../../helpers/cli.ts';
import { expected, maxAbsDiff, tinyImages } from '../../helpers/fixtures.ts';
import { TEST_CACHE, TINY } from '../../helpers/paths.ts';
import { openTowers } from '../../helpers/towers.ts';

const files: Record<string, Buffer> = {
  'open_clip_config.json': readFileSync(join(TINY, 'open_clip_config.json')),
  'open_clip_pytorch_model.bin': readFileSync(join(TINY, 'open_clip_pytorch_model.bin')),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Serves the tiny fixture like the Hub: /<repo>/resolve/<rev>/<file>, Range requests, X-Linked-Etag = sha256. */
describe('build --checkpoint hf:REPO against a fake hub on 127.0.0.1', () => {
  let server: Server;
  let endpoint: string;
  const log: string[] = [];
  let cutFirstDownload = true;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      log.push(`${req.method} ${url} ${req.headers.range ?? ''}`);
      if (url === '/api/models/laion/tiny-test') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"laion/tiny-test"}');
        return;
      }
      const m = /^\/(laion\/[\w.-]+)\/resolve\/main\/(.+)$/.exec(url);
      const body = m && (m[1] === 'laion/tiny-test' || m[1] === 'laion/bad-hash') ? files[m[2]] : undefined;
      if (!m || !body) {
        res.writeHead(404).end('not found');
        return;
      }
      const etag = m[1] === 'laion/bad-hash' ? '0'.repeat(64) : sha(body);
      const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      res.writeHead(range ? 206 : 200, { 'content-length': body.length - start, 'x-linked-etag': `"${etag}"` });
      if (m[2].endsWith('.bin') && cutFirstDownload && !range) {
        // Drop the connection half-way through the first download: the client must resume with a Range request.
        cutFirstDownload = false;
        res.write(body.subarray(0, body.length >> 1), () => res.destroy());
        return;
      }
      res.end(body.subarray(start));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const env = (cache: string) => ({
    HF_ENDPOINT: endpoint,
    EDGE_CLIP_CACHE: cache,
  });

  it('downloads (resuming after a dropped connection), caches and builds the checkpoint', async () => {
    const cache = join(TEST_CACHE, 'hub-cache');
    const out = join(TEST_CACHE, 'models/tiny-hub');
    rmSync(cache, { recursive: true, force: true });
    const res = await runCli(
      ['build', '--checkpoint', 'hf:laion/tiny-test', '--out', out, '--precisions', 'fp32'],
      env(cache),
    );
    expect(res.stderr).toMatch(/interrupted/);
    expect(res.code).toBe(0);
    expect(log.some((l) => l.includes('open_clip_pytorch_model.bin bytes='))).toBe(true);
    expect(log.some((l) => l.includes('open_clip_model.safetensors'))).toBe(true);
    // Only the checkpoint is downloaded: the vocabulary ships with the project.
    expect(log.every((l) => /\/resolve\/main\/open_clip_/.test(l))).toBe(true);
    expect(existsSync(join(cache, 'hub/laion--tiny-test/main/open_clip_pytorch_model.bin'))).toBe(true);
    const manifest = readManifest(out);
    expect(manifest.source).toMatchObject({
      checkpoint: 'hf:laion/tiny-test',
      format: 'pytorch',
      sha256: sha(files['open_clip_pytorch_model.bin']),
    });
    const towers = await openTowers(out);
    const img = await towers.run('image', 'fp32', tinyImages(), [3, 3, 64, 64]);
    await towers.close();
    expect(maxAbsDiff(img, expected.image_features.flat())).toBeLessThan(1e-4);

    const before = log.length;
    const again = await runCli(
      ['build', '--checkpoint', 'hf:laion/tiny-test', '--out', out, '--precisions', 'fp32'],
      env(cache),
    );
    expect(again.code).toBe(0);
    expect(log.slice(before)).toEqual([]);
  });

  it('rejects a download whose sha256 differs from the one the hub states, leaving nothing behind', async () => {
    const cache = join(TEST_CACHE, 'hub-cache-bad');
    rmSync(cache, { recursive: true, force: true });
    const res = await runCli(
      ['build', '--checkpoint', 'hf:laion/bad-hash', '--out', join(TEST_CACHE, 'models/bad-hash')],
      env(cache),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/sha256 .* does not match/);
    expect(existsSync(join(cache, 'hub/laion--bad-hash/main/open_clip_config.json.part'))).toBe(false);
    expect(existsSync(join(TEST_CACHE, 'models/bad-hash'))).toBe(false);
  });

  it('reports an unknown repo as not found', async () => {
    const cache = join(TEST_CACHE, 'hub-cache-missing');
    rmSync(cache, { recursive: true, force: true });
    const res = await runCli(['build', '--checkpoint', 'hf:laion/missing', '--out', join(TEST_CACHE, 'x')], env(cache));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/open_clip_config\.json: 404 not found/);
  });

  it('refuses a revision that is a path, before any download or folder is made', async () => {
    const cache = join(TEST_CACHE, 'hub-cache-revision');
    rmSync(cache, { recursive: true, force: true });
    const res = await runCli(
      ['build', '--checkpoint', 'hf:laion/x@../../escape', '--out', join(TEST_CACHE, 'x')],
      env(cache),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/not a Hugging Face revision: "\.\.\/\.\.\/escape"/);
    expect(existsSync(join(cache, 'escape'))).toBe(false);
  });

  it('edge-clip hub says whether the hub answers for a repo (what npm start asks first)', async () => {
    const hub = async (repo: string, endpointEnv: Record<string, string>) =>
      JSON.parse((await runCli(['hub', '--repo', repo], endpointEnv)).stdout) as { reachable: boolean; repo: string };
    expect(await hub('laion/tiny-test', env(TEST_CACHE))).toMatchObject({ repo: 'laion/tiny-test', reachable: true });
    expect(await hub('laion/missing', env(TEST_CACHE))).toMatchObject({ reachable: false });
    // Nothing listens on port 9 of 127.0.0.1: offline.
    expect(await hub('laion/tiny-test', { HF_ENDPOINT: 'http://127.0.0.1:9' })).toMatchObject({ reachable: false });
  });
});
