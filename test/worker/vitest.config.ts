/** Tests that run inside workerd (the real Workers runtime) with miniflare's R2 and KV. */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { Response } from 'miniflare';
import { defineProject } from 'vitest/config';
import { SEGMENT_BUNDLE, segmentWorkers } from './segment-workers.ts';

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

/**
 * The bundle's modules, listed: onnxruntime-web's code holds a dynamic import (never taken in workerd) that miniflare
 * cannot follow, so it is given the entry and the .wasm modules wrangler wrote beside it.
 */
function segmentModules() {
  const root = dirname(SEGMENT_BUNDLE);
  const wasm = readdirSync(root).filter((f) => f.endsWith('.wasm'));
  return {
    modulesRoot: root,
    modules: [
      { type: 'ESModule' as const, path: SEGMENT_BUNDLE },
      ...wasm.map((f) => ({ type: 'CompiledWasm' as const, path: resolve(root, f) })),
    ],
  };
}

/** What sets the workerd projects apart: their test files, global setup and the Workers run beside the tests. */
interface WorkerdProject {
  name: string;
  include: string[];
  exclude?: string[];
  globalSetup: string;
  /** Projects with a higher order run after those with a lower one (never beside them: the machine has 2 cores). */
  order: number;
  segments: typeof segmentWorkers;
}

function workerdProject(p: WorkerdProject) {
  return defineProject({
    root: ROOT,
    plugins: [
      // A function: the pool calls it after the project's global setup (which bundles the segment Worker).
      cloudflareTest(() => ({
        wrangler: { configPath: resolve(ROOT, 'wrangler.toml') },
        miniflare: {
          // The int8 towers in onnxruntime-web: most tests compare the Worker's answers with what the CLI computes in
          // Node (onnxruntime) to tight bounds. The served default, our kernels, is tested against them through the
          // app in kernels.test.ts, and load.test.ts batches through both.
          bindings: {
            MODEL_ID: 'tiny',
            ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
            IMAGE_ENGINE: 'onnxruntime',
            TEXT_ENGINE: 'onnxruntime',
          },
          // Under another name than the Worker's RATE_LIMITER: only test/worker/access.test.ts hands it to an app.
          ratelimits: { TEST_RATE_LIMITER: { simple: { limit: 3, period: 60 } } },
          workers: p.segments.map((s) => ({
            name: s.name,
            ...segmentModules(),
            compatibilityDate: '2026-04-01',
            compatibilityFlags: ['nodejs_compat'],
            bindings: { MODEL_ID: 'segmented', SEGMENT_TOWER: s.tower, SEGMENT_INDEX: String(s.index) },
            r2Buckets: { MODELS: 'edge-clip-models' },
          })),
          // Test-only binding: lets tests inside workerd read build outputs and fixtures from disk to seed R2.
          serviceBindings: {
            ...Object.fromEntries(p.segments.map((s) => [s.binding, s.name])),
            async FIXTURES(request: Request) {
              const [root, ...rest] = new URL(request.url).pathname.slice(1).split('/');
              const base = ROOTS[root];
              if (!base || rest.some((x) => x === '..')) return new Response('not found', { status: 404 });
              try {
                return new Response(await readFile(resolve(base, ...rest)));
              } catch {
                return new Response('not found', { status: 404 });
              }
            },
          },
        },
      })),
    ],
    test: {
      name: p.name,
      include: p.include,
      exclude: p.exclude,
      globalSetup: [resolve(ROOT, p.globalSetup)],
      testTimeout: 120_000,
      hookTimeout: 300_000,
      // One test file at a time: every file loads towers into the one workerd, and the machine has 2 cores.
      fileParallelism: false,
      sequence: { groupOrder: p.order },
    },
  });
}

const SEGMENTS_TEST = 'test/worker/segments.test.ts';

/**
 * The workerd projects. The six segment Workers (each compiling onnxruntime-web's wasm whenever workerd starts, once
 * per test file) run only beside the test file that calls them: beside every file they had cost 100 s.
 */
export const workerdProjects = [
  workerdProject({
    name: 'workers',
    include: ['test/worker/**/*.test.ts'],
    exclude: [SEGMENTS_TEST],
    globalSetup: 'test/worker/global-setup.ts',
    order: 1,
    segments: [],
  }),
  workerdProject({
    name: 'segments',
    include: [SEGMENTS_TEST],
    globalSetup: 'test/worker/segments-setup.ts',
    order: 2,
    segments: segmentWorkers,
  }),
];
