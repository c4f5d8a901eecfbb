import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningOrigin, startOrigin } from '../../origin/start-origin.ts';
import { openLocalModel, readManifest } from '../../src/adapters/node/local-model.ts';
import {
  decodeInferResponse,
  encodeInferRequest,
  HEADER_LENGTH,
  type V2Tensor,
} from '../../src/contracts/inference-protocol.ts';
import { runCli } from '../helpers/cli.ts';
import { cosine, tinyImages } from '../helpers/fixtures.ts';
import { TINY, TINY_ST } from '../helpers/paths.ts';

const TOKEN = 'origin-test-token';
let origin: RunningOrigin;
let unbatched: RunningOrigin;
let fullBatches: RunningOrigin;
const texts = Array.from(
  { length: 16 },
  (_, i) => `a photo of thing number ${i} in a ${['red', 'big', 'tiny', 'blue'][i % 4]} box`,
);
let reference: number[][];
let imageReference: number[][];

async function infer(base: string, model: string, input: V2Tensor, binary: boolean, token = TOKEN) {
  const { body, headerLength } = encodeInferRequest(
    [input],
    [model.startsWith('edgeclip_text') ? 'text_embeds' : 'image_embeds'],
    binary,
  );
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': binary ? 'application/octet-stream' : 'application/json',
  };
  if (headerLength !== undefined) headers[HEADER_LENGTH] = String(headerLength);
  return fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> });
}

async function textTensor(text: string): Promise<V2Tensor> {
  const tokenizer = await (await openLocalModel(TINY_ST)).tokenizer();
  const ids = tokenizer.tokenize(text).ids;
  return { name: 'input_ids', datatype: 'INT64', shape: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) };
}

const rows = async (res: Response) => {
  expect(res.status).toBe(200);
  const out = decodeInferResponse(new Uint8Array(await res.arrayBuffer()), res.headers.get(HEADER_LENGTH));
  return Array.from(out.outputs[0].data as Float32Array);
};

beforeAll(async () => {
  origin = await startOrigin({
    modelDir: TINY_ST,
    port: await freePort(),
    token: TOKEN,
    maxBatch: 16,
    windowMs: 25,
    device: 'cpu',
    log: () => {},
  });
  // A window no test outlasts: its batches run only when 16 rows are waiting, whatever the machine's speed.
  fullBatches = await startOrigin({
    modelDir: TINY_ST,
    port: await freePort(),
    token: TOKEN,
    maxBatch: 16,
    windowMs: 600_000,
    device: 'cpu',
    log: () => {},
  });
  unbatched = await startOrigin({
    modelDir: TINY_ST,
    port: await freePort(),
    token: TOKEN,
    maxBatch: 1,
    device: 'cpu',
    log: () => {},
  });
  const res = await runCli([
    'embed',
    '--model',
    TINY_ST,
    '--precision',
    'fp32',
    '--raw',
    '--image-tensor',
    join(TINY, 'images.f32'),
    '--shape',
    '3,3,64,64',
    '--',
    ...texts,
  ]);
  const out = JSON.parse(res.stdout);
  reference = out.text_features;
  imageReference = out.image_features;
});
afterAll(async () => {
  await origin?.close();
  await unbatched?.close();
  await fullBatches?.close();
});

describe('origin (Open Inference Protocol v2)', () => {
  it('answers JSON and binary infer requests with edge-clip embed --precision fp32 features', async () => {
    const t = await textTensor(texts[3]);
    expect(cosine(await rows(await infer(origin.url, 'edgeclip_text', t, false)), reference[3])).toBeGreaterThanOrEqual(
      0.99999,
    );
    expect(cosine(await rows(await infer(origin.url, 'edgeclip_text', t, true)), reference[3])).toBeGreaterThanOrEqual(
      0.99999,
    );
    const img: V2Tensor = { name: 'pixel_values', datatype: 'FP32', shape: [3, 3, 64, 64], data: tinyImages() };
    const out = await rows(await infer(origin.url, 'edgeclip_image', img, true));
    for (let i = 0; i < 3; i++)
      expect(cosine(out.slice(i * 24, (i + 1) * 24), imageReference[i])).toBeGreaterThanOrEqual(0.99999);
  });

  it('batches 16 concurrent requests into one run and returns each caller its own rows', async () => {
    const tensors = await Promise.all(texts.map(textTensor));
    expect(tensors).toHaveLength(16);
    const results = await Promise.all(
      tensors.map(async (t) => rows(await infer(fullBatches.url, 'edgeclip_text', t, true))),
    );
    expect(results).toHaveLength(16);
    results.forEach((r, i) => {
      expect(cosine(r, reference[i])).toBeGreaterThanOrEqual(0.99999);
    });
    const stats = (await (
      await fetch(`${fullBatches.url}/v2/models/edgeclip_text/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { model_stats: { inference_count: number; execution_count: number }[] };
    expect(stats.model_stats[0]).toMatchObject({ inference_count: 16, execution_count: 1 });
  });

  it("serves Prometheus /metrics under Triton's names, matching what it ran, and promtool accepts them", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(`${fullBatches.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${fullBatches.url}/metrics`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const { buildHash } = readManifest(TINY_ST);
    const value = (name: string) =>
      Number(
        new RegExp(`^${name}\\{model="edgeclip_text",version="${buildHash}"\\} (\\S+)$`, 'm').exec(text)?.[1] ??
          Number.NaN,
      );
    const stats = (
      (await (await fetch(`${fullBatches.url}/v2/models/edgeclip_text/stats`, { headers: auth })).json()) as {
        model_stats: { inference_count: number; execution_count: number }[];
      }
    ).model_stats[0];
    // The 16 requests of the batching test: one execution of 16 rows.
    expect(value('nv_inference_count_total')).toBe(stats.inference_count);
    expect(value('nv_inference_exec_count_total')).toBe(stats.execution_count);
    expect(value('nv_inference_request_success_total')).toBe(16);
    expect(value('nv_inference_request_failure_total')).toBe(0);
    expect(value('edgeclip_batch_size_count')).toBe(stats.execution_count);
    expect(value('edgeclip_batch_size_sum')).toBe(stats.inference_count);
    for (const name of [
      'nv_inference_request_duration_seconds_total',
      'nv_inference_queue_duration_seconds_total',
      'nv_inference_compute_infer_duration_seconds_total',
    ])
      expect(value(name), name).toBeGreaterThan(0);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error)
      throw new Error(`promtool is needed for this check (Debian: apt-get install prometheus): ${check.error.message}`);
    expect(check.stderr + check.stdout).toBe('');
    expect(check.status).toBe(0);
  });

  it('runs each request alone with batching off', async () => {
    const tensors = await Promise.all(texts.slice(0, 4).map(textTensor));
    await Promise.all(tensors.map(async (t) => rows(await infer(unbatched.url, 'edgeclip_text', t, true))));
    const stats = (await (
      await fetch(`${unbatched.url}/v2/models/edgeclip_text/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { model_stats: { inference_count: number; execution_count: number }[] };
    expect(stats.model_stats[0].execution_count).toBe(stats.model_stats[0].inference_count);
  });

  it('drops a request whose client left while it waited for a batch: it is never computed', async () => {
    const slow = await startOrigin({
      modelDir: TINY_ST,
      port: await freePort(),
      token: TOKEN,
      maxBatch: 16,
      windowMs: 60_000,
      device: 'cpu',
      log: () => {},
    });
    try {
      const t = await textTensor('a cat');
      const { body, headerLength } = encodeInferRequest([t], ['text_embeds']);
      const leaving = new AbortController();
      const sent = fetch(`${slow.url}/v2/models/edgeclip_text/infer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, [HEADER_LENGTH]: String(headerLength) },
        body: body as Uint8Array<ArrayBuffer>,
        signal: leaving.signal,
      });
      const stats = async () =>
        (
          (await (
            await fetch(`${slow.url}/v2/models/edgeclip_text/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })
          ).json()) as { model_stats: { inference_count: number; cancelled_count: number }[] }
        ).model_stats[0];
      await new Promise((r) => setTimeout(r, 300));
      leaving.abort();
      await expect(sent).rejects.toThrow();
      for (let i = 0; i < 50 && (await stats()).cancelled_count === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await stats()).toMatchObject({ inference_count: 0, cancelled_count: 1 });
    } finally {
      await slow.close();
    }
  });

  it('refuses a port already taken with the listen error (and frees the model it had loaded)', async () => {
    const port = Number(new URL(origin.url).port);
    await expect(startOrigin({ modelDir: TINY_ST, port, token: TOKEN, device: 'cpu', log: () => {} })).rejects.toThrow(
      /EADDRINUSE/,
    );
  });

  it('keeps the default of an option given as undefined (host: loopback, not every interface)', async () => {
    const o = await startOrigin({
      modelDir: TINY_ST,
      port: await freePort(),
      token: TOKEN,
      device: 'cpu',
      host: undefined,
      maxBatch: undefined,
      log: () => {},
    });
    try {
      expect(new URL(o.url).hostname).toBe('127.0.0.1');
      expect((await fetch(`${o.url}/v2/health/ready`)).status).toBe(200);
    } finally {
      await o.close();
    }
  });

  it('serves its build as the only model version; another build is a 404 and answers name the version', async () => {
    const { buildHash } = readManifest(TINY_ST);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const meta = (await (await fetch(`${origin.url}/v2/models/edgeclip_text`, { headers: auth })).json()) as {
      versions: string[];
    };
    expect(meta.versions).toEqual([buildHash]);
    const t = await textTensor('a cat');
    const mine = await infer(origin.url, `edgeclip_text/versions/${buildHash}`, t, true);
    expect(mine.status).toBe(200);
    expect(
      decodeInferResponse(new Uint8Array(await mine.arrayBuffer()), mine.headers.get(HEADER_LENGTH)).modelVersion,
    ).toBe(buildHash);
    const other = await infer(origin.url, 'edgeclip_text/versions/0123456789abcdef', t, true);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: string }).error).toMatch(
      `version 0123456789abcdef is not served here: this origin serves build ${buildHash}`,
    );
    const ready = await fetch(`${origin.url}/v2/models/edgeclip_image/versions/0123456789abcdef/ready`, {
      headers: auth,
    });
    expect(ready.status).toBe(404);
  });

  it('requires the bearer token (401) except for health probes', async () => {
    const t = await textTensor('a cat');
    expect((await infer(origin.url, 'edgeclip_text', t, true, 'wrong')).status).toBe(401);
    expect((await fetch(`${origin.url}/v2/models/edgeclip_text`)).status).toBe(401);
    expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(200);
  });

  it.each([
    [
      'an unknown model',
      'nope',
      { name: 'input_ids', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.of(1n, 2n) },
      404,
    ],
    [
      'a wrong input name',
      'edgeclip_text',
      { name: 'ids', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.of(1n, 2n) },
      400,
    ],
    [
      'a wrong datatype',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) },
      400,
    ],
    [
      'a wrong image shape',
      'edgeclip_image',
      { name: 'pixel_values', datatype: 'FP32', shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32) },
      400,
    ],
    [
      'a token id outside the vocabulary (each request is checked alone, before it joins a batch)',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: BigInt64Array.of(49406n, 49408n, 49407n) },
      400,
    ],
    [
      'a negative token id',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.of(-1n, 49407n) },
      400,
    ],
    [
      'an empty sequence ([1, 0])',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'INT64', shape: [1, 0], data: new BigInt64Array(0) },
      400,
    ],
    [
      'rows past the context length',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'INT64', shape: [1, 78], data: new BigInt64Array(78).fill(320n) },
      400,
    ],
    [
      'more rows than a request may carry',
      'edgeclip_text',
      { name: 'input_ids', datatype: 'INT64', shape: [65, 2], data: new BigInt64Array(130).fill(320n) },
      413,
    ],
  ] as [string, string, V2Tensor, number][])('refuses %s', async (_n, model, tensor, status) => {
    const res = await infer(origin.url, model, tensor, true);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toEqual(expect.any(String));
  });

  it('counts a chunked body as it streams in, and refuses it past the limit', async () => {
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // 80 MiB, more than the origin's 64 MiB limit, with no Content-Length.
        if (sent++ < 80) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${origin.url}/v2/models/edgeclip_text/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });
});
