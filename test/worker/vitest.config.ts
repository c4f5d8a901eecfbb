/** Tests that run inside workerd (the real Workers runtime) with miniflare's R2 and KV. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { Response } from 'miniflare';
import { defineProject } from 'vitest/config';

const ROOT = resolve(import.meta.dirname, '../..');
/** Read-only fixture roots the FIXTURES test binding may serve from. */
const ROOTS: Record<string, string> = {
  models: resolve(ROOT, '.cache/test/worker-models'),
  preprocess: resolve(ROOT, 'test/fixtures/preprocess'),
  'preprocess-webp': resolve(ROOT, 'test/fixtures/preprocess-webp'),
  'preprocess-avif': resolve(ROOT, 'test/fixtures/preprocess-avif'),
  tiny: resolve(ROOT, 'test/fixtures/tiny'),
};

// workerd with V8 flags that keep it from live-locking (test/workerd/v8-flags.ts): miniflare runs this wrapper instead of
// its own binary, which the wrapper then execs. (A shell script: not on Windows.)
if (process.platform !== 'win32') {
  const fromMiniflare = createRequire(createRequire(import.meta.url).resolve('miniflare'));
  process.env.EDGE_CLIP_WORKERD = fromMiniflare('workerd').default as string;
  process.env.MINIFLARE_WORKERD_PATH = resolve(ROOT, 'test/workerd/workerd.sh');
}

export default defineProject({
  root: ROOT,
  plugins: [
    cloudflareTest({
      wrangler: { configPath: resolve(ROOT, 'wrangler.toml') },
      miniflare: {
        bindings: { MODEL_ID: 'tiny', ADMIN_TOKEN: 'test-admin-token' },
        // Test-only binding: lets tests inside workerd read build outputs and fixtures from disk to seed R2.
        serviceBindings: {
          async FIXTURES(request: Request) {
            const [root, ...rest] = new URL(request.url).pathname.slice(1).split('/');
            const base = ROOTS[root];
            if (!base || rest.some((p) => p === '..')) return new Response('not found', { status: 404 });
            try {
              return new Response(await readFile(resolve(base, ...rest)));
            } catch {
              return new Response('not found', { status: 404 });
            }
          },
        },
      },
    }),
  ],
  test: {
    name: 'workers',
    include: ['test/worker/**/*.test.ts'],
    globalSetup: [resolve(ROOT, 'test/worker/global-setup.ts')],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // One test file at a time: every file loads towers into the one workerd, and the machine has 2 cores.
    fileParallelism: false,
  },
});
