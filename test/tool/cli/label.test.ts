import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localApp } from '../../../src/adapters/node/local-app.ts';
import { runCli } from '../../helpers/cli.ts';
import { PREPROCESS, PREPROCESS_WEBP, TEST_CACHE, TINY_ST } from '../../helpers/paths.ts';

const DIR = join(TEST_CACHE, 'label');
const IMAGES = join(DIR, 'images');
type Line = { input: string; results?: { label: string; score: number }[]; error?: string; precision?: string };
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

/** Both runs that are compared use these labels and k. */
const THREE_LABELS = ['--labels', 'cat,dog,rocket', '--top-k', '2'];
let server: ReturnType<typeof serve>;
let url: string;
/** Requests that reached the app, and how many of the next ones the "Worker" turns away first (503, then 429). */
const seen = { classify: 0, refuse: 0 };

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(join(IMAGES, 'nested'), { recursive: true });
  copyFileSync(join(PREPROCESS, 'grace_hopper.jpg'), join(IMAGES, 'grace_hopper.jpg'));
  copyFileSync(join(PREPROCESS, 'chelsea.png'), join(IMAGES, 'nested', 'chelsea.png'));
  copyFileSync(join(PREPROCESS_WEBP, 'rocket_rgba_lossy.webp'), join(IMAGES, 'rocket.webp'));
  writeFileSync(join(IMAGES, 'broken.png'), readFileSync(join(PREPROCESS, 'chelsea.png')).subarray(0, 500));
  writeFileSync(join(IMAGES, 'notes.txt'), 'not an image');
  // The Worker's own app on the tiny build, behind a server that turns requests away while `refuse` lasts.
  const { app } = await localApp(TINY_ST);
  server = serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (request) => {
      // Images to label by URL, served by the same test server.
      const path = new URL(request.url).pathname;
      if (path.startsWith('/files/')) return new Response(readFileSync(join(IMAGES, path.slice('/files/'.length))));
      if (seen.refuse > 0) {
        const status = seen.refuse-- % 2 ? 503 : 429;
        return Response.json(
          { error: { type: 'busy', message: 'try later' } },
          { status, headers: { 'retry-after': '0' } },
        );
      }
      seen.classify++;
      return app.fetch(request);
    },
  });
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('edge-clip label', () => {
  it('labels a folder (recursively, images only) against a running Worker, retrying 503/429 after Retry-After', async () => {
    const out = join(DIR, 'remote.jsonl');
    seen.refuse = 3;
    const res = await runCli(['label', '--url', url, ...THREE_LABELS, '--out', out, IMAGES]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ images: 4, labelled: 3, failed: 1, skipped: 0 });
    expect(res.stderr).toMatch(/label \[.*\] 100\.0% 4\/4/);
    const byInput = Object.fromEntries(lines(out).map((l) => [l.input.slice(IMAGES.length + 1), l]));
    expect(Object.keys(byInput).sort()).toEqual([
      'broken.png',
      'grace_hopper.jpg',
      'nested/chelsea.png',
      'rocket.webp',
    ]);
    for (const name of ['grace_hopper.jpg', 'nested/chelsea.png', 'rocket.webp']) {
      const { results, precision } = byInput[name];
      expect(precision).toBe('int8');
      expect(results).toHaveLength(2);
      expect(results![0].score).toBeGreaterThanOrEqual(results![1].score);
      expect(['cat', 'dog', 'rocket']).toContain(results![0].label);
    }
    expect(byInput['broken.png'].error).toMatch(/HTTP 422 unprocessable_image: truncated PNG/);
    expect(seen.refuse).toBe(0);
  });

  it('resumes: a second run skips what was labelled and redoes failures and a line cut by the interruption', async () => {
    const out = join(DIR, 'resume.jsonl');
    const hopper = join(IMAGES, 'grace_hopper.jpg');
    writeFileSync(
      out,
      `${JSON.stringify({ input: hopper, results: [], precision: 'int8' })}\n{"input":"${join(IMAGES, 'rocket.webp')}","res`,
    );
    const before = seen.classify;
    const res = await runCli(['label', '--url', url, '--labels', 'cat,dog', '--out', out, IMAGES]);
    expect(JSON.parse(res.stdout)).toMatchObject({ images: 4, labelled: 2, failed: 1, skipped: 1 });
    expect(seen.classify - before).toBe(3);
    const written = lines(out);
    expect(written.filter((l) => l.input === hopper)).toHaveLength(1);
    expect(
      written
        .filter((l) => l.results && l.results.length > 0)
        .map((l) => l.input.slice(IMAGES.length + 1))
        .sort(),
    ).toEqual(['nested/chelsea.png', 'rocket.webp']);
  });

  it('runs the same app on a local build (--model), and takes a JSONL list of files', async () => {
    const list = join(DIR, 'list.jsonl');
    writeFileSync(list, `"images/grace_hopper.jpg"\n{"file": "images/nested/chelsea.png"}\n`);
    const out = join(DIR, 'local.jsonl');
    const local = await runCli(['label', '--model', TINY_ST, ...THREE_LABELS, '--out', out, list]);
    expect(local.code, local.stderr).toBe(0);
    const remoteOut = join(DIR, 'remote.jsonl');
    const remote = Object.fromEntries(lines(remoteOut).map((l) => [l.input, l.results]));
    const labelled = lines(out);
    expect(labelled).toHaveLength(2);
    for (const l of labelled) {
      expect(remote[l.input]).toBeDefined();
      expect(l.results).toEqual(remote[l.input]);
    }
  });

  it('the local app computes ad-hoc label prompts once per run, not once per image', async () => {
    const local = await localApp(TINY_ST);
    const classify = (file: string) =>
      local.app.request('/v1/classify?labels=cat,dog,rocket', {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: readFileSync(join(IMAGES, file)),
      });
    const first = await classify('grace_hopper.jpg');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-prompts-encoded')).toBe('3');
    const second = await classify('nested/chelsea.png');
    expect(second.status).toBe(200);
    expect(second.headers.get('x-prompts-encoded')).toBe('0');
  });

  it('labels images named by URL (on the command line and in a JSONL list) like the same files on disk', async () => {
    const list = join(DIR, 'urls.jsonl');
    writeFileSync(list, `{"url": "${url}/files/nested/chelsea.png"}\n`);
    const out = join(DIR, 'urls-out.jsonl');
    const res = await runCli([
      'label',
      '--url',
      url,
      ...THREE_LABELS,
      '--out',
      out,
      `${url}/files/grace_hopper.jpg`,
      list,
    ]);
    expect(JSON.parse(res.stdout)).toMatchObject({ images: 2, labelled: 2, failed: 0 });
    const remote = Object.fromEntries(lines(join(DIR, 'remote.jsonl')).map((l) => [l.input, l.results]));
    const byUrl = Object.fromEntries(lines(out).map((l) => [l.input, l.results]));
    expect(byUrl[`${url}/files/grace_hopper.jpg`]).toEqual(remote[join(IMAGES, 'grace_hopper.jpg')]);
    expect(byUrl[`${url}/files/nested/chelsea.png`]).toEqual(remote[join(IMAGES, 'nested', 'chelsea.png')]);
  });

  it('refuses unclear requests with one line', async () => {
    for (const args of [
      ['--labels', 'a', '--out', join(DIR, 'x.jsonl'), IMAGES],
      ['--url', url, '--model', TINY_ST, '--labels', 'a', '--out', join(DIR, 'x.jsonl'), IMAGES],
      ['--url', url, '--out', join(DIR, 'x.jsonl'), IMAGES],
      ['--url', url, '--labels', 'a', IMAGES],
      ['--url', url, '--labels', 'a', '--out', join(DIR, 'x.jsonl'), join(DIR, 'missing')],
    ]) {
      const res = await runCli(['label', ...args]);
      expect(res.code, args.join(' ')).not.toBe(0);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
