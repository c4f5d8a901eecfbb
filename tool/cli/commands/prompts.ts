/** `edge-clip prompts build|upload`: precomputed zero-shot classifiers, and putting them into Workers KV. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { plainBuffer, withLocalBindings } from '../../../src/adapters/node/local-bindings.ts';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { decodeClassifier } from '../../../src/contracts/classifier-blob.ts';
import { labelsetKey } from '../../../src/contracts/kv-keys.ts';
import { parseLabelSet } from '../../../src/contracts/labelset.ts';
import { PRECISIONS } from '../../../src/contracts/manifest.ts';
import { labelsetFile, SHIPPED_LABELSETS } from '../../assets.ts';
import { buildClassifier } from '../../prompts/build-classifier.ts';
import { HelpRequested, intFlag, NO_LIMIT, oneOf, parse, required, str, UsageError } from '../args.ts';
import { commandHelp, commandSpec } from '../specs.ts';

export const classifierPath = (model: string, name: string, precision: string) =>
  join(model, 'labelsets', `${name}.${precision}.ecls`);

async function build(argv: string[]) {
  const args = parse(argv, commandSpec('prompts build'));
  const dir = required(args, 'model');
  const file = labelsetFile(required(args, 'labelset'));
  if (!file)
    throw new UsageError(
      `--labelset ${str(args, 'labelset')}: no such file, nor a shipped set (${Object.keys(SHIPPED_LABELSETS).join(', ')})`,
    );
  const precision = oneOf(args, 'precision', PRECISIONS, 'int8');
  const dtype = oneOf(args, 'dtype', ['float16', 'float32'] as const, 'float16');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read a JSON label set (${(e as Error).message})`);
  }
  // `--templates simple` picks a file's `simple_templates` list (imagenet1k.json has the 80 OpenAI ones and 7 simple).
  const which = str(args, 'templates');
  if (which && which !== 'all') {
    const alt = json[`${which}_templates`];
    if (!Array.isArray(alt)) throw new UsageError(`${file} has no ${which}_templates`);
    json = { ...json, templates: alt };
  }
  const set = parseLabelSet(json);
  const manifest = readManifest(dir);
  const out = str(args, 'out') ?? classifierPath(dir, set.name, precision);
  const r = await buildClassifier({
    dir,
    manifest,
    set,
    precision,
    dtype,
    out,
    batch: intFlag(args, 'batch', 1, 4096, 64),
    threads: intFlag(args, 'threads', 1, 1024, availableParallelism()),
    maxBatches: intFlag(args, 'max-batches', 1, NO_LIMIT),
  });
  return {
    out,
    complete: r.classifier !== undefined,
    name: set.name,
    labels: set.labels.length,
    templates: set.templates.length,
    prompts: r.prompts,
    computed_prompts: r.computedPrompts,
    resumed_prompts: r.resumedPrompts,
    seconds: r.seconds,
    prompts_per_second: r.promptsPerSecond,
    build_hash: manifest.buildHash,
    precision,
  };
}

async function upload(argv: string[]) {
  const args = parse(argv, commandSpec('prompts upload'));
  const manifest = readManifest(required(args, 'model'));
  const blobFile = required(args, 'blob');
  const bytes = new Uint8Array(readFileSync(blobFile));
  const { header } = decodeClassifier(bytes);
  if (header.buildHash !== manifest.buildHash || header.modelId !== manifest.modelId) {
    throw new UsageError(
      `${blobFile} was built for ${header.modelId}@${header.buildHash}, not ${manifest.modelId}@${manifest.buildHash}`,
    );
  }
  const key = labelsetKey(manifest.modelId, manifest.buildHash, header.precision, header.name);
  if (args.values.remote) {
    const res = spawnSync(
      process.execPath,
      [
        'node_modules/wrangler/bin/wrangler.js',
        'kv',
        'key',
        'put',
        '--binding',
        'PROMPTS',
        '--remote',
        key,
        '--path',
        blobFile,
      ],
      { stdio: 'inherit' },
    );
    if (res.status !== 0) throw new Error(`wrangler kv key put failed (exit ${res.status})`);
  } else {
    await withLocalBindings((env) => env.PROMPTS.put(key, plainBuffer(bytes)));
  }
  return { key, bytes: bytes.length, target: args.values.remote ? 'remote' : 'local' };
}

export async function prompts(argv: string[]) {
  const [sub, ...rest] = argv;
  if (sub === 'build') return build(rest);
  if (sub === 'upload') return upload(rest);
  const usage = ['build', 'upload'].map((s) => commandHelp(commandSpec(`prompts ${s}`)).split('\n')[0]).join('\n');
  if (sub === '--help' || sub === '-h') throw new HelpRequested(usage);
  throw new UsageError(`give a subcommand:\n${usage}`);
}
