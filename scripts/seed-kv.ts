/**
 * Seeds local KV with an ImageNet-1k classifier for the served build when none exists: the full 80-template set if it
 * was built (`edge-clip prompts build`), otherwise a quick one-template set (1,000 prompts, seconds to compute).
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { plainBuffer, withLocalBindings } from '../src/adapters/node/local-bindings.ts';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { errorLine } from '../src/contracts/errors.ts';
import { labelsetKey } from '../src/contracts/kv-keys.ts';
import { runEdgeClip } from './edge-clip.ts';

/** The shipped ImageNet-1k class names and templates (assets/README.md). */
const IMAGENET = fileURLToPath(new URL('../assets/imagenet1k.json', import.meta.url));

export async function seedImagenet(dir: string, log: (l: string) => void): Promise<void> {
  const manifest = readManifest(dir);
  const key = labelsetKey(manifest.modelId, manifest.buildHash, 'int8', 'imagenet1k');
  const present = await withLocalBindings(async (env) => (await env.PROMPTS.get(key)) !== null);
  if (present) return;
  const full = join(dir, 'labelsets', 'imagenet1k.int8.ecls');
  let blob = full;
  if (!existsSync(full)) {
    blob = join(dir, 'labelsets', 'imagenet1k.int8.quick.ecls');
    if (!existsSync(blob)) {
      const { classnames } = JSON.parse(readFileSync(IMAGENET, 'utf8')) as { classnames: string[] };
      mkdirSync(join(dir, 'labelsets'), { recursive: true });
      const quick = join(dir, 'labelsets', 'imagenet1k.quick.json');
      writeFileSync(
        quick,
        JSON.stringify({ name: 'imagenet1k', labels: classnames, templates: ['a photo of a {c}.'] }),
      );
      log('computing a quick ImageNet-1k label set (1 template, 1,000 prompts)');
      try {
        await runEdgeClip([
          'prompts',
          'build',
          '--model',
          dir,
          '--labelset',
          quick,
          '--precision',
          'int8',
          '--out',
          blob,
        ]);
      } catch (e) {
        // The service runs without it: /v1/classify still takes ad-hoc labels.
        log(`no imagenet1k label set: ${errorLine(e)}`);
        return;
      }
    }
    log(
      `for the full 80-template set run: npx edge-clip prompts build --model ${dir} --labelset imagenet1k && npx edge-clip prompts upload --model ${dir} --blob ${full} --local`,
    );
  }
  await withLocalBindings((env) => env.PROMPTS.put(key, plainBuffer(readFileSync(blob))));
  log(`KV: label set imagenet1k from ${blob}`);
}
