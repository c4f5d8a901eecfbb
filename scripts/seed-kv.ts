/**
 * Seeds local KV with an ImageNet-1k classifier for the served build when none exists: the full 80-template set if it
 * was built (`edge-clip prompts build`), otherwise a quick one-template set (1,000 prompts, seconds to compute).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labelsetKey } from '../src/shared/kv-keys.ts';
import { main as cli } from '../tool/cli/main.ts';
import { plainBuffer, withLocalBindings } from '../tool/runtime/local-bindings.ts';
import { readManifest } from '../tool/runtime/local-build.ts';

/** The label data is an input, never a copy in this repo: EDGE_CLIP_IMAGENET_JSON, else the workspace's shared copy. */
export function imagenetLabelsFile(): string | undefined {
  const candidates = [process.env.EDGE_CLIP_IMAGENET_JSON, '../shared/clip/imagenet1k.json'].filter(
    (f): f is string => !!f,
  );
  return candidates.find((f) => existsSync(f));
}

export async function seedImagenet(dir: string, log: (l: string) => void): Promise<void> {
  const manifest = readManifest(dir);
  const key = labelsetKey(manifest.modelId, manifest.buildHash, 'int8', 'imagenet1k');
  const present = await withLocalBindings(async (env) => (await env.PROMPTS.get(key)) !== null);
  if (present) return;
  const full = join(dir, 'labelsets', 'imagenet1k.int8.ecls');
  let blob = full;
  if (!existsSync(full)) {
    const labels = imagenetLabelsFile();
    if (!labels) {
      log(
        'no ImageNet class names found (set EDGE_CLIP_IMAGENET_JSON): /v1/classify needs ad-hoc labels or an uploaded set',
      );
      return;
    }
    blob = join(dir, 'labelsets', 'imagenet1k.int8.quick.ecls');
    if (!existsSync(blob)) {
      const { classnames } = JSON.parse(readFileSync(labels, 'utf8')) as { classnames: string[] };
      mkdirSync(join(dir, 'labelsets'), { recursive: true });
      const quick = join(dir, 'labelsets', 'imagenet1k.quick.json');
      writeFileSync(
        quick,
        JSON.stringify({ name: 'imagenet1k', labels: classnames, templates: ['a photo of a {c}.'] }),
      );
      log('computing a quick ImageNet-1k label set (1 template, 1,000 prompts)');
      if (
        (await cli(['prompts', 'build', '--model', dir, '--labelset', quick, '--precision', 'int8', '--out', blob])) !==
        0
      )
        return;
    }
    log(
      `for the full 80-template set run: npx edge-clip prompts build --model ${dir} --labelset ${labels} && npx edge-clip prompts upload --model ${dir} --blob ${full} --local`,
    );
  }
  await withLocalBindings((env) => env.PROMPTS.put(key, plainBuffer(readFileSync(blob))));
  log(`KV: label set imagenet1k from ${blob}`);
}
