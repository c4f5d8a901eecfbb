/**
 * The bounded load test: the Worker served as `npm start` serves it (serve-worker.ts: workerd on its own socket, the
 * tiny build in local R2), under concurrent clients for a few seconds with bounds so tight that the isolate sheds.
 * Every answer must be the app's own: a 200, or a JSON 503 `overloaded` with Retry-After; no connection may drop;
 * /healthz answers throughout and afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../origin/start-origin.ts';
import { seedR2 } from '../../scripts/seed-r2.ts';
import { type ServedWorker, serveWorker } from '../../scripts/serve-worker.ts';
import { PREPROCESS, TEST_CACHE, TINY_ST } from '../helpers/paths.ts';

const STATE = join(TEST_CACHE, 'serve-load-state');
let served: ServedWorker;
const jpeg = new Uint8Array(readFileSync(join(PREPROCESS, 'grace_hopper.jpg')));

beforeAll(async () => {
  await seedR2(TINY_ST, ['int8'], () => {}, STATE);
  served = await serveWorker({
    port: await freePort(),
    // Shed any prompt that would wait at all, so that the load below meets the isolate's refusals; images are admitted
    // (they go in at their share of the thread between prompts).
    vars: { MODEL_ID: 'tiny-st', MAX_TEXT_WAIT_MS: '1', MAX_IMAGE_WAIT_MS: '60000' },
    outDir: join(TEST_CACHE, 'serve-load-bundle'),
    persistTo: STATE,
    quiet: true,
  });
}, 120_000);
afterAll(() => served?.dispose());

interface Answer {
  kind: string;
  status: number;
  type?: string;
  retryAfter?: string | null;
  /** A connection that dropped or a client timeout: a lost request. */
  lost?: string;
}

async function send(kind: string, path: string, init?: RequestInit): Promise<Answer> {
  try {
    const res = await fetch(`${served.url}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (res.status === 200) return { kind, status: 200 };
    let type: string | undefined;
    try {
      type = (JSON.parse(text) as { error?: { type?: string } }).error?.type;
    } catch {}
    return { kind, status: res.status, type, retryAfter: res.headers.get('retry-after') };
  } catch (e) {
    return { kind, status: 0, lost: String(e) };
  }
}

const COMPUTE = { 'cache-control': 'no-cache' };
const text = (i: number) =>
  send('text', '/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...COMPUTE },
    body: JSON.stringify({ input: `a photo of thing number ${i}` }),
  });
const image = () =>
  send('image', '/v1/images/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', ...COMPUTE },
    body: jpeg,
  });

describe('the served Worker under load (bounded)', () => {
  it('answers every request itself (200, or 503 overloaded with Retry-After), loses none, and stays healthy', async () => {
    // Warm: both towers loaded before the clock starts.
    expect(await text(-1)).toEqual({ kind: 'text', status: 200 });
    expect((await image()).status).toBe(200);
    const answers: Answer[] = [];
    const health: Answer[] = [];
    const deadline = Date.now() + 4000;
    let n = 0;
    const client = async () => {
      while (Date.now() < deadline) {
        const i = n++;
        answers.push(await (i % 10 === 0 ? image() : text(i)));
      }
    };
    const prober = async () => {
      while (Date.now() < deadline) {
        health.push(await send('healthz', '/healthz'));
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await Promise.all([...Array.from({ length: 24 }, client), prober()]);

    expect(answers.filter((a) => a.lost)).toEqual([]);
    for (const a of answers) {
      if (a.status === 200) continue;
      expect(a).toMatchObject({ status: 503, type: 'overloaded' });
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // Both kinds were served, and the bounds did shed.
    expect(answers.filter((a) => a.kind === 'text' && a.status === 200).length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.kind === 'image' && a.status === 200).length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expect(health.length).toBeGreaterThan(3);
    expect(health.every((h) => h.status === 200)).toBe(true);
    expect((await send('healthz', '/healthz')).status).toBe(200);
  }, 60_000);
});
