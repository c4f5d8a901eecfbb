/** Builds the tiny fixture and computes `edge-clip embed` reference features in Node for the workerd tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort, startOrigin } from '../../origin/start-origin.ts';
import { initImageDecodersForNode } from '../../src/adapters/node/image-wasm-node.ts';
import { readManifest } from '../../src/adapters/node/local-build.ts';
import { decodeClassifier } from '../../src/contracts/classifier-blob.ts';
import { preprocessImage } from '../../src/model/image/preprocess-image.ts';
import { zeroShotScores } from '../../src/model/zero-shot.ts';
import { buildModel } from '../../tool/converter/build-model.ts';
import { buildTiny } from '../global-setup.ts';
import { runCli } from '../helpers/cli.ts';
import { expected } from '../helpers/fixtures.ts';
import { PREPROCESS, TINY, VOCAB, WORKER_MODELS } from '../helpers/paths.ts';
import { startOriginProxy } from './origin-proxy.ts';
import type { Reference } from './reference.ts';

const ORIGIN_TOKEN = 'worker-origin-token';

const TINY_ST = join(WORKER_MODELS, 'tiny-st');

export const TEST_IMAGES = ['grace_hopper.jpg', 'chelsea.png'];

async function embedCli(args: string[]): Promise<{ image_features?: number[][]; text_features?: number[][] }> {
  const res = await runCli(['embed', '--model', TINY_ST, ...args]);
  if (res.code !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await buildTiny(TINY_ST, join(WORKER_MODELS, 'tiny-pt'));
  // The same model cut into segments (≥ 3 per tower, each measured under a budget), for the segmented tests.
  await buildModel({
    checkpoint: TINY,
    out: join(WORKER_MODELS, 'tiny-segmented'),
    precisions: ['int8'],
    shardSize: 1 << 20,
    vocab: VOCAB,
    modelId: 'tiny',
    minSegments: 3,
    segmentBudget: 64 * 2 ** 20,
  });
  await initImageDecodersForNode();
  const manifest = readManifest(TINY_ST);
  // Preprocess the test images in Node, then embed the tensors with the CLI: the worker must agree with both steps.
  const tensors = await Promise.all(
    TEST_IMAGES.map(async (name) => {
      const out = new Float32Array(3 * 64 * 64);
      await preprocessImage(new Uint8Array(readFileSync(join(PREPROCESS, name))), manifest.preprocess, out);
      return out;
    }),
  );
  const batch = new Float32Array(tensors.length * tensors[0].length);
  tensors.forEach((t, i) => {
    batch.set(t, i * t.length);
  });
  const file = join(WORKER_MODELS, 'images.f32');
  writeFileSync(file, new Uint8Array(batch.buffer));
  const shape = `${tensors.length},3,64,64`;
  const reference: Reference = {
    texts: expected.texts,
    conformanceText: expected.text_features,
    images: TEST_IMAGES,
    fp32: { text: [], image: [] },
    int8: { text: [], image: [] },
  };
  for (const precision of ['fp32', 'int8'] as const) {
    // int8 kernels differ between onnxruntime-node and -web; the edge runs -web, so compare with that runtime.
    const out = await embedCli([
      '--precision',
      precision,
      '--runtime',
      precision === 'int8' ? 'web' : 'node',
      '--image-tensor',
      file,
      '--shape',
      shape,
      '--',
      ...expected.texts,
    ]);
    reference[precision] = { text: out.text_features ?? [], image: out.image_features ?? [] };
  }
  // Zero-shot reference: classifier blob from the CLI, scores from CLI image features.
  const set = {
    name: 'animals',
    labels: ['cat', 'dog', 'rocket', 'person', 'motorcycle'],
    templates: ['a photo of a {c}.', 'a drawing of a {c}.'],
  };
  const setFile = join(WORKER_MODELS, 'animals.json');
  writeFileSync(setFile, JSON.stringify(set));
  const blobFile = join(WORKER_MODELS, 'animals.int8.ecls');
  const built = await runCli([
    'prompts',
    'build',
    '--model',
    TINY_ST,
    '--labelset',
    setFile,
    '--precision',
    'int8',
    '--out',
    blobFile,
  ]);
  if (built.code !== 0) throw new Error(built.stderr);
  const blob = readFileSync(blobFile);
  const { weights } = decodeClassifier(new Uint8Array(blob));
  const expectedScores = reference.int8.image.map((row) =>
    zeroShotScores(Float32Array.from(row), weights, set.labels, manifest.logitScale, set.labels.length),
  );
  reference.zeroShot = { set, blobBase64: blob.toString('base64'), expected: expectedScores };
  project.provide('reference', reference);

  // The GPU origin (CPU here) behind a proxy the tests can take down.
  const origin = await startOrigin({
    modelDir: TINY_ST,
    port: await freePort(),
    token: ORIGIN_TOKEN,
    device: 'cpu',
    windowMs: 5,
    log: () => {},
  });
  const proxy = await startOriginProxy(origin.url);
  project.provide('origin', { url: proxy.url, token: ORIGIN_TOKEN });
  return async () => {
    await proxy.close();
    await origin.close();
  };
}
