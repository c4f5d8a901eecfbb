/**
 * The API description as a real generator sees it: openapi-typescript turns the served /openapi.json into types, a
 * small openapi-fetch client written against them must type-check (strict), and then runs against the Worker's app.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { localApp } from '../../src/adapters/node/local-app.ts';
import { PREPROCESS, ROOT, TEST_CACHE, TINY_ST } from '../helpers/paths.ts';

const DIR = join(TEST_CACHE, 'openapi-client');

/** What a user writes against the generated types: every field it reads is typed from the description. */
const CLIENT = `import createClient from 'openapi-fetch';
import type { paths } from './api.ts';

export async function run(fetch: (request: Request) => Promise<Response>, png: string) {
  const client = createClient<paths>({ baseUrl: 'http://local', fetch });
  const text = await client.POST('/v1/embeddings', { body: { input: ['a cat', 'a dog'] } });
  if (!text.data) throw new Error('no text embeddings');
  const first: number[] | string = text.data.data[0].embedding;
  const classified = await client.POST('/v1/classify', {
    body: { images: [png], labels: ['cat', 'dog'], top_k: 2 },
  });
  if (!classified.data) throw new Error('no classification');
  const labelsets = await client.GET('/v1/labelsets');
  const refused = await client.POST('/v1/embeddings', { body: { input: [] } });
  const message: string | undefined = refused.error?.error.message;
  return {
    rows: text.data.data.length,
    width: Array.isArray(first) ? first.length : 0,
    // A batch (images) answers per image under data; a single image answers results.
    labels: (classified.data.data ?? [])[0]?.results.map((r) => r.label) ?? [],
    labelsets: labelsets.response.status,
    refused: refused.response.status,
    message,
  };
}
`;

let app: Awaited<ReturnType<typeof localApp>>['app'];
beforeAll(async () => {
  ({ app } = await localApp(TINY_ST));
  mkdirSync(DIR, { recursive: true });
  const doc = await (await app.request('/openapi.json')).json();
  writeFileSync(join(DIR, 'api.ts'), astToString(await openapiTS(doc)));
  writeFileSync(join(DIR, 'client.ts'), CLIENT);
});

describe('a generated client (openapi-typescript + openapi-fetch)', () => {
  it('type-checks against the types generated from /openapi.json', async () => {
    const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--allowImportingTsExtensions',
    ];
    const res = await promisify(execFile)(process.execPath, [tsc, ...args, join(DIR, 'client.ts')], { cwd: ROOT }).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(res.out).toBe('');
    expect(res.code).toBe(0);
  });

  it('runs against the Worker app: embeddings, classify, label sets and a typed error', async () => {
    const { readFileSync } = await import('node:fs');
    const png = `data:image/png;base64,${readFileSync(join(PREPROCESS, 'chelsea.png')).toString('base64')}`;
    const { run } = (await import(join(DIR, 'client.ts'))) as {
      run: (f: (r: Request) => Promise<Response>, png: string) => Promise<Record<string, unknown>>;
    };
    const out = await run(async (r) => app.fetch(r), png);
    expect(out).toMatchObject({ rows: 2, width: 24, labelsets: 200, refused: 400 });
    expect((out.labels as string[]).sort()).toEqual(['cat', 'dog']);
    expect(out.message).toMatch(/input/);
  });
});
