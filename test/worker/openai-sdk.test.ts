/** The official OpenAI SDK, pointed at the Worker in workerd: what OpenAI users' code sends, answered as it expects. */
import { env } from 'cloudflare:workers';
import OpenAI from 'openai';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import worker from '../../src/worker/index.ts';
import { seedModel } from './seed.ts';

const reference = inject('reference');
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const client = new OpenAI({
  apiKey: 'not-needed-without-API_KEYS',
  baseURL: 'http://edge/v1',
  maxRetries: 0,
  fetch: async (url, init) =>
    worker.fetch(new Request(url, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx),
});
const cos = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

let manifest: ModelManifest;
beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'tiny');
});

describe('OpenAI SDK → /v1/embeddings', () => {
  it('embeddings.create (base64, the SDK default) with user and dimensions = the model width', async () => {
    const res = await client.embeddings.create({
      model: manifest.modelId,
      input: reference.texts.slice(0, 2),
      user: 'user-1234',
      dimensions: manifest.embedDim,
    });
    expect(res.data).toHaveLength(2);
    expect(res.data[0].embedding).toHaveLength(manifest.embedDim);
    // The SDK decoded the base64 floats it asked for: unit vectors, the rows the CLI computes.
    for (const [i, row] of res.data.entries())
      expect(cos(row.embedding, reference.int8.text[i])).toBeGreaterThan(0.999);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('dimensions other than the model width is a BadRequestError saying why', async () => {
    const err = await client.embeddings
      .create({ model: manifest.modelId, input: 'a cat', dimensions: manifest.embedDim / 2 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(
      new RegExp(`dimensions must be ${manifest.embedDim}: this model's embeddings are not trained to be cut`),
    );
  });
});
