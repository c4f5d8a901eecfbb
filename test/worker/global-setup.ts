/**
 * Builds the tiny fixture and computes, in Node, what the CLI answers (`embed`, `prompts build`, `eval`, `label
 * --model`), for the workerd tests to compare with what the Worker's routes answer for the same inputs and build.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort, startOrigin } from '../../origin/start-origin.ts';
import { readManifest } from '../../src/adapters/node/local-model.ts';
import { decodeClassifier } from '../../src/contracts/classifier-blob.ts';
import { zeroShotScores } from '../../src/model/zero-shot.ts';
import { buildTiny } from '../global-setup.ts';
import { runCli } from '../helpers/cli.ts';
import { expected } from '../helpers/fixtures.ts';
import { PREPROCESS, WORKER_MODELS } from '../helpers/paths.ts';
import { startImageServer } from './image-server.ts';
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

/** Runs the CLI; its stdout, or a failure naming the command. */
async function cli(args: string[]): Promise<string> {
  const res = await runCli(args);
  if (res.code !== 0) throw new Error(`edge-clip ${args[0]}: ${res.stderr}`);
  return res.stdout;
}

/** `edge-clip prompts build` of a label-set file for the tiny build. */
const promptsBuild = (setFile: string, precision: string, out: string, extra: string[] = []) =>
  cli([
    'prompts',
    'build',
    '--model',
    TINY_ST,
    '--labelset',
    setFile,
    '--precision',
    precision,
    ...extra,
    '--out',
    out,
  ]);

/** What `prompts build` (fp32), `eval` and `label --model` answer for the label set and the test images. */
async function cliAnswers(setFile: string, blobFile: string, labels: string[]): Promise<Reference['cli']> {
  const fp32Blob = join(WORKER_MODELS, 'animals.fp32.ecls');
  await promptsBuild(setFile, 'fp32', fp32Blob, ['--dtype', 'float32']);
  const rows = decodeClassifier(new Uint8Array(readFileSync(fp32Blob))).weights;
  // eval: an ImageFolder of the test images, each in the folder of the label the Worker ranks first or not.
  const dataset = join(WORKER_MODELS, 'eval-dataset');
  for (const [i, name] of TEST_IMAGES.entries()) {
    mkdirSync(join(dataset, String(i)), { recursive: true });
    copyFileSync(join(PREPROCESS, name), join(dataset, String(i), name));
  }
  const evaluation = JSON.parse(
    await cli(['eval', '--model', TINY_ST, '--labelset', blobFile, '--dataset', dataset, '--precision', 'int8']),
  ) as { top1: number; top5: number; images: number };
  // label --model: the build's own label sets (labelsets/*.ecls) in the app run in-process.
  mkdirSync(join(TINY_ST, 'labelsets'), { recursive: true });
  copyFileSync(blobFile, join(TINY_ST, 'labelsets', 'animals.int8.ecls'));
  const out = join(WORKER_MODELS, 'label.jsonl');
  rmSync(out, { force: true });
  await cli([
    'label',
    ...['--model', TINY_ST, '--labelset', 'animals', '--top-k', String(labels.length), '--out', out],
    ...TEST_IMAGES.map((name) => join(PREPROCESS, name)),
  ]);
  const labelled = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { input: string; results: { label: string; index: number; score: number }[] });
  return {
    promptsBuildFp32: Array.from({ length: labels.length }, (_, r) => Array.from(rows.subarray(r * 24, (r + 1) * 24))),
    eval: evaluation,
    label: TEST_IMAGES.map((name) => labelled.find((l) => l.input.endsWith(name))!.results),
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await buildTiny(TINY_ST, join(WORKER_MODELS, 'tiny-pt'));
  const manifest = readManifest(TINY_ST);
  const reference: Reference = {
    texts: expected.texts,
    conformanceText: expected.text_features,
    conformanceImage: expected.image_features,
    logitScale: expected.logit_scale,
    logitsPerImage: expected.logits_per_image,
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
      ...TEST_IMAGES.flatMap((name) => ['--image', join(PREPROCESS, name)]),
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
  await promptsBuild(setFile, 'int8', blobFile);
  const blob = readFileSync(blobFile);
  const { weights } = decodeClassifier(new Uint8Array(blob));
  const expectedScores = reference.int8.image.map((row) =>
    zeroShotScores(Float32Array.from(row), weights, set.labels, manifest.logitScale, set.labels.length),
  );
  reference.zeroShot = { set, blobBase64: blob.toString('base64'), expected: expectedScores };
  reference.cli = await cliAnswers(setFile, blobFile, set.labels);
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
  const images = await startImageServer();
  project.provide('imageServer', images.url);
  return async () => {
    await images.close();
    await proxy.close();
    await origin.close();
  };
}
