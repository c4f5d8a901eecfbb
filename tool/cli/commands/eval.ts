/** `edge-clip eval`: zero-shot top-1/top-5 of a classifier over an ImageFolder dataset, through the classify pipeline. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { openLocalModel, readManifest } from '../../../src/adapters/node/local-model.ts';
import { decodeClassifier } from '../../../src/contracts/classifier-blob.ts';
import { DEFAULTS } from '../../../src/contracts/config.ts';
import { PRECISIONS } from '../../../src/contracts/manifest.ts';
import { classifyImages } from '../../../src/model/pipelines/classify.ts';
import { intFlag, NO_LIMIT, oneOf, parse, required, UsageError } from '../args.ts';
import { Progress } from '../progress.ts';
import { commandSpec } from '../specs.ts';
import { classifierPath } from './prompts.ts';

const IMAGE_EXT = /\.(jpe?g|png|gif|bmp|tiff?)$/i;

export async function evaluate(argv: string[]) {
  const args = parse(argv, commandSpec('eval'));
  const dir = required(args, 'model');
  const dataset = required(args, 'dataset');
  const precision = oneOf(args, 'precision', PRECISIONS, 'int8');
  const labelset = required(args, 'labelset');
  const blob = existsSync(labelset) ? labelset : classifierPath(dir, labelset, precision);
  if (!existsSync(blob)) throw new UsageError(`no classifier ${blob}; run edge-clip prompts build first`);
  const manifest = readManifest(dir);
  const { header, weights } = decodeClassifier(new Uint8Array(readFileSync(blob)));
  if (header.buildHash !== manifest.buildHash)
    throw new UsageError(`${blob} was built for build ${header.buildHash}, the model is ${manifest.buildHash}`);
  if (!existsSync(dataset) || !statSync(dataset).isDirectory()) throw new UsageError(`${dataset} is not a folder`);
  // Class folders are named by class index ("0".."999") or by the label itself.
  const samples: { file: string; target: number }[] = [];
  for (const cls of readdirSync(dataset).sort()) {
    const path = join(dataset, cls);
    if (!statSync(path).isDirectory()) continue;
    const target = /^\d+$/.test(cls) ? Number(cls) : header.labels.indexOf(cls);
    if (target < 0 || target >= header.labels.length)
      throw new UsageError(`${path}: folder name is neither a class index nor a label of ${header.name}`);
    for (const f of readdirSync(path).sort()) if (IMAGE_EXT.test(f)) samples.push({ file: join(path, f), target });
  }
  const limit = intFlag(args, 'limit', 1, NO_LIMIT, samples.length);
  const todo = samples.slice(0, limit);
  if (todo.length === 0) throw new UsageError(`${dataset} has no images in class folders`);
  const model = await openLocalModel(dir, { threads: availableParallelism() });
  try {
    // Loaded before the loop: a tower that cannot load is one error, not a failure listed against every image.
    await model.tower('image', precision);
    const classifier = { weights, labels: header.labels };
    const progress = new Progress('eval', todo.length, 'items');
    let top1 = 0;
    let top5 = 0;
    const failures: { file: string; error: string }[] = [];
    const t0 = Date.now();
    for (const [i, s] of todo.entries()) {
      try {
        const [scores] = await classifyImages(model, [new Uint8Array(readFileSync(s.file))], classifier, {
          precision,
          topK: 5,
          maxPixels: DEFAULTS.MAX_IMAGE_PIXELS,
        });
        const ranked = scores.map((r) => r.index);
        if (ranked[0] === s.target) top1++;
        if (ranked.includes(s.target)) top5++;
      } catch (e) {
        failures.push({ file: s.file, error: (e as Error).message });
      }
      progress.update(i + 1);
    }
    const n = todo.length - failures.length;
    return {
      model: manifest.modelId,
      build_hash: manifest.buildHash,
      labelset: header.name,
      precision,
      images: n,
      top1: n ? top1 / n : 0,
      top5: n ? top5 / n : 0,
      seconds: (Date.now() - t0) / 1000,
      failures,
    };
  } finally {
    await model.close();
  }
}
