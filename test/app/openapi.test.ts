import { Validator } from '@seriousme/openapi-schema-validator';
import * as v from 'valibot';
import { beforeAll, describe, expect, it } from 'vitest';
import { localApp } from '../../src/adapters/node/local-app.ts';
import { apiSchemas } from '../../src/app/schemas.ts';
import { parseConfig } from '../../src/contracts/config.ts';
import { TINY_ST } from '../helpers/paths.ts';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
};
let app: Awaited<ReturnType<typeof localApp>>['app'];
let doc: Doc;
const api = apiSchemas(parseConfig({ MODEL_ID: 'tiny' }));

beforeAll(async () => {
  ({ app } = await localApp(TINY_ST));
  doc = (await (await app.request('/openapi.json')).json()) as Doc;
});

const json = (path: string, body: unknown) =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route of the app, each with its error responses', () => {
    const routes = app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/openapi.json' && r.path !== '/')
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const route of new Set(routes)) {
      const [method, path] = route.split(' ');
      expect(doc.paths[path]?.[method], route).toBeDefined();
    }
    const errors = doc.paths['/v1/classify'].post.responses;
    expect(Object.keys(errors)).toEqual(expect.arrayContaining(['200', '400', '413', '415', '422', '503']));
    expect(JSON.stringify(errors['413'])).toMatch(/"error".*"type".*"message"/);
  });

  it('states the configured limits', () => {
    const body = JSON.stringify(doc.paths['/v1/embeddings'].post.requestBody);
    expect(body).toMatch(/"maxItems":32/);
    expect(JSON.stringify(doc.paths['/v1/classify'].post.requestBody)).toMatch(/"maxItems":256.*"maxLength":2048/);
  });
});

describe('the schemas describe what the routes answer', () => {
  it('embeddings, classify, models, health and errors conform', async () => {
    const ok = async (res: Response, schema: v.GenericSchema) => {
      expect(res.status).toBeLessThan(300);
      expect(v.safeParse(schema, await res.json()).issues).toBeUndefined();
    };
    await ok(await json('/v1/embeddings', { input: ['a cat', 'a dog'] }), api.EmbeddingsResponse);
    await ok(await json('/v1/embeddings', { input: 'a cat', encoding_format: 'base64' }), api.EmbeddingsResponse);
    const png =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
    await ok(await json('/v1/classify', { image: png, labels: ['cat', 'dog'] }), api.ClassifyResponse);
    await ok(await json('/v1/classify', { images: [png, png], labels: ['cat', 'dog'] }), api.ClassifyResponse);
    await ok(await app.request('/v1/models'), api.Models);
    await ok(await app.request('/healthz'), api.Health);
    await ok(await app.request('/v1/labelsets'), api.LabelsetList);
    const refused = await json('/v1/embeddings', { input: [] });
    expect(refused.status).toBe(400);
    expect(v.safeParse((await import('../../src/app/schemas.ts')).ErrorBody, await refused.json()).success).toBe(true);
  });
});
