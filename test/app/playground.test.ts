/** The playground page in a real headless Chromium, against the Worker's app served from the tiny build. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localApp } from '../../src/adapters/node/local-app.ts';
import { PREPROCESS, TEST_CACHE, TINY_ST } from '../helpers/paths.ts';

/** Debian's chromium (.ci/run installs it); elsewhere whichever Chrome is on the PATH. */
function chromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {}
  }
  return undefined;
}

const executablePath = chromium();
if (!executablePath && process.env.CI)
  throw new Error('CI needs chromium for the playground test (.ci/run installs it)');
const SHOT = join(TEST_CACHE, 'playground.png');
const IMAGE = join(PREPROCESS, 'grace_hopper.jpg');

let server: ReturnType<typeof serve>;
let url: string;
let browser: Browser;
let page: Page;
let weights: string;

beforeAll(async () => {
  if (!executablePath) return;
  const local = await localApp(TINY_ST);
  weights = local.manifest.weights;
  server = serve({ hostname: '127.0.0.1', port: 0, fetch: local.app.fetch });
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage();
  await page.setViewport({ width: 900, height: 1000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

const text = (selector: string) => page.$eval(selector, (e) => e.textContent ?? '');

describe.skipIf(!executablePath)('the playground in headless Chromium', () => {
  it('loads, describes the model, and says whether the weights are random', async () => {
    const res = await page.goto(url, { waitUntil: 'networkidle0' });
    expect(res?.headers()['content-type']).toMatch(/text\/html/);
    await page.waitForFunction(() => /build/.test(document.getElementById('model')?.textContent ?? ''));
    expect(await text('#model')).toMatch(/^tiny · build [0-9a-f]+/);
    const bannerShown = await page.$eval('#random', (e) => getComputedStyle(e).display !== 'none');
    expect(bannerShown).toBe(weights === 'random');
  });

  it('ranks typed labels for an uploaded image as /v1/classify does, with bars and timings', async () => {
    await page.$eval('#labels', (e) => {
      (e as HTMLInputElement).value = 'a cat, a dog, a rocket, a person, a car';
    });
    const input = await page.$('#file');
    await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(IMAGE);
    await page.waitForFunction(() => document.querySelectorAll('#results li.result').length === 5);
    const shown = await page.$$eval('#results li.result', (items) =>
      items.map((li) => ({
        label: (li as HTMLElement).dataset.label,
        score: Number((li as HTMLElement).dataset.score),
        bar: (li.querySelector('.bar') as HTMLElement).style.width,
      })),
    );
    const api = await fetch(
      `${url}/v1/classify?labels=${encodeURIComponent('a cat, a dog, a rocket, a person, a car')}&top_k=5`,
      {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: readFileSync(IMAGE),
      },
    );
    const expected = ((await api.json()) as { results: { label: string; score: number }[] }).results;
    expect(shown.map((s) => s.label)).toEqual(expected.map((r) => r.label));
    shown.forEach((s, i) => {
      expect(s.score).toBeCloseTo(expected[i].score, 6);
      expect(Number.parseFloat(s.bar)).toBeCloseTo(Math.max(1, 100 * s.score), 1);
    });
    expect(await text('#timings')).toMatch(/int8 · .*infer \d+\.\d ms/);
    // What the model sees: the crop as POST /v1/preprocess answers it, and its box on the image.
    await page.waitForFunction(() => (document.getElementById('model-input') as HTMLImageElement).naturalWidth > 0);
    const view = await page.evaluate(() => {
      const img = document.getElementById('model-input') as HTMLImageElement;
      const box = document.getElementById('cropbox') as HTMLElement;
      const preview = document.getElementById('preview') as HTMLImageElement;
      return {
        size: [img.naturalWidth, img.naturalHeight],
        box: [box.offsetLeft, box.offsetTop, box.offsetWidth, box.offsetHeight],
        shown: [preview.clientWidth, preview.clientHeight],
        caption: document.getElementById('model-input-caption')?.textContent ?? '',
      };
    });
    const direct = await fetch(`${url}/v1/preprocess`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: readFileSync(IMAGE),
    });
    const [rw, rh] = (direct.headers.get('x-resize') ?? '').split('x').map(Number);
    const [left, top, side] = (direct.headers.get('x-crop-box') ?? '').split(',').map(Number);
    expect(view.size).toEqual([side, side]);
    expect(view.caption).toBe(`what the model sees: ${side}×${side} of the image resized to ${rw}×${rh}`);
    const [kx, ky] = [view.shown[0] / rw, view.shown[1] / rh];
    expect(view.box[0]).toBeCloseTo(left * kx, -0.5);
    expect(view.box[1]).toBeCloseTo(top * ky, -0.5);
    expect(view.box[2]).toBeCloseTo(side * kx, -0.5);
    expect(view.box[3]).toBeCloseTo(side * ky, -0.5);
    mkdirSync(TEST_CACHE, { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`playground screenshot: ${SHOT}`);
  });

  it('compares two texts, and shows the API’s error when a request is refused', async () => {
    await page.click('#compare');
    await page.waitForFunction(() => /^-?\d\.\d{4}$/.test(document.getElementById('similarity')?.textContent ?? ''));
    const res = await fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: ['a photo of a cat', 'a picture of a kitten'] }),
    });
    const [a, b] = ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
    const cosine = a.reduce((sum, x, i) => sum + x * b[i], 0);
    expect(Number(await text('#similarity'))).toBeCloseTo(cosine, 4);
    await page.$eval('#labels', (e) => {
      (e as HTMLInputElement).value = '';
    });
    await page.click('#classify');
    await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '') !== '');
    expect(await text('#error')).toMatch(/^invalid_input: give labelset .* or labels/);
  });
});
