/** `edge-clip embed`: features of images, preprocessed image tensors and/or texts, through the model's pipelines. */
import { readFileSync } from 'node:fs';
import { openLocalModel, readManifest } from '../../../src/adapters/node/local-model.ts';
import { DEFAULTS } from '../../../src/contracts/config.ts';
import { PRECISIONS } from '../../../src/contracts/manifest.ts';
import { embedImages, embedPixels } from '../../../src/model/pipelines/embed-images.ts';
import { embedTexts } from '../../../src/model/pipelines/embed-texts.ts';
import { toRows } from '../../../src/model/postprocess.ts';
import { intFlag, oneOf, parse, required, str, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

export async function embed(argv: string[]) {
  const args = parse(argv, commandSpec('embed'));
  const dir = required(args, 'model');
  const precision = oneOf(args, 'precision', PRECISIONS, 'fp32');
  const runtime = oneOf(args, 'runtime', ['node', 'web'] as const, 'node');
  const threads = intFlag(args, 'threads', 1, 1024, 1);
  const texts = [...((args.values.text as string[] | undefined) ?? []), ...args.positionals];
  const imageFiles = (args.values.image as string[] | undefined) ?? [];
  const tensorFile = str(args, 'image-tensor');
  if (!tensorFile && imageFiles.length === 0 && texts.length === 0)
    throw new UsageError('give --image <file>, --image-tensor <file.f32> --shape N,3,H,W and/or --text <s>');
  const manifest = readManifest(dir);
  const options = { precision, raw: args.values.raw === true };
  const result: { image_features?: number[][]; text_features?: number[][] } = {};
  let pixels: { data: Float32Array; count: number } | undefined;
  if (tensorFile) {
    const dims = required(args, 'shape').split(',').map(Number);
    const size = manifest.preprocess.size;
    if (dims.length !== 4 || dims[1] !== 3 || dims[2] !== size || dims[3] !== size || !(dims[0] > 0)) {
      throw new UsageError(`--shape must be N,3,${size},${size} for this model (got ${dims})`);
    }
    const bytes = readFileSync(tensorFile);
    const expected = dims.reduce((a, b) => a * b, 4);
    if (bytes.length !== expected)
      throw new UsageError(`${tensorFile}: ${bytes.length} bytes, shape ${dims} needs ${expected}`);
    pixels = {
      data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
      count: dims[0],
    };
  }
  const images = imageFiles.map((f) => {
    try {
      return new Uint8Array(readFileSync(f));
    } catch (e) {
      throw new UsageError(`${f}: cannot read (${(e as NodeJS.ErrnoException).code})`);
    }
  });
  const model = await openLocalModel(dir, { runtime, threads });
  try {
    const image: number[][] = [];
    if (pixels) image.push(...rows(await embedPixels(model, pixels.data, pixels.count, options)));
    if (images.length > 0)
      image.push(...rows(await embedImages(model, images, { ...options, maxPixels: DEFAULTS.MAX_IMAGE_PIXELS })));
    if (image.length > 0) result.image_features = image;
    if (texts.length > 0) result.text_features = rows(await embedTexts(model, texts, options));
  } finally {
    await model.close();
  }
  return result;
}

const rows = (e: { data: Float32Array; dim: number }) => toRows(e.data, e.dim);
