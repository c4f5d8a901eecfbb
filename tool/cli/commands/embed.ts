/** `edge-clip embed`: features of raw image tensors and/or texts, in onnxruntime-node or onnxruntime-web. */
import { readFileSync } from 'node:fs';
import { loadRunner, loadTokenizer, readManifest } from '../../../src/adapters/node/local-build.ts';
import { PRECISIONS } from '../../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../../src/contracts/tensors.ts';
import { l2NormalizeRows, toRows } from '../../../src/model/postprocess.ts';
import { packIds } from '../../../src/model/text-batch.ts';
import { oneOf, parse, required, str, UsageError } from '../args.ts';

export async function embed(argv: string[]) {
  const args = parse(argv, {
    model: { type: 'string' },
    precision: { type: 'string' },
    runtime: { type: 'string' },
    'image-tensor': { type: 'string' },
    shape: { type: 'string' },
    text: { type: 'string', multiple: true },
    raw: { type: 'boolean' },
    threads: { type: 'string' },
  });
  const dir = required(args, 'model');
  const precision = oneOf(args, 'precision', PRECISIONS, 'fp32');
  const runtime = oneOf(args, 'runtime', ['node', 'web'] as const, 'node');
  const threads = Number(str(args, 'threads') ?? '1');
  const texts = [...((args.values.text as string[] | undefined) ?? []), ...args.positionals];
  const imageFile = str(args, 'image-tensor');
  if (!imageFile && texts.length === 0)
    throw new UsageError('give --image-tensor <file.f32> --shape N,3,H,W and/or --text <s>');
  const manifest = readManifest(dir);
  const result: { image_features?: number[][]; text_features?: number[][] } = {};
  const finish = (data: Float32Array) =>
    toRows(args.values.raw ? data : l2NormalizeRows(data, manifest.embedDim), manifest.embedDim);

  if (imageFile) {
    const dims = required(args, 'shape').split(',').map(Number);
    const size = manifest.preprocess.size;
    if (dims.length !== 4 || dims[1] !== 3 || dims[2] !== size || dims[3] !== size || !(dims[0] > 0)) {
      throw new UsageError(`--shape must be N,3,${size},${size} for this model (got ${dims})`);
    }
    const bytes = readFileSync(imageFile);
    const expected = dims.reduce((a, b) => a * b, 4);
    if (bytes.length !== expected)
      throw new UsageError(`${imageFile}: ${bytes.length} bytes, shape ${dims} needs ${expected}`);
    const pixels = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const runner = await loadRunner(dir, manifest, 'image', precision, runtime, threads);
    result.image_features = finish(await runner.run(IMAGE_INPUT, pixels, dims));
  }
  if (texts.length > 0) {
    const tokenizer = await loadTokenizer(dir, manifest);
    const { data, dims } = packIds(texts.map((t) => tokenizer.tokenize(t).ids));
    const runner = await loadRunner(dir, manifest, 'text', precision, runtime, threads);
    result.text_features = finish(await runner.run(TEXT_INPUT, data, dims));
  }
  return result;
}
