/** Data the project carries in assets/ (see assets/README.md): nothing a build or `npm start` needs is downloaded. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ASSETS = resolve(import.meta.dirname, '../assets');

/** CLIP's BPE merges, as OpenCLIP ships them; the default vocabulary of every build. */
export const SHIPPED_VOCAB = join(ASSETS, 'bpe_simple_vocab_16e6.txt.gz');
export const SHIPPED_VOCAB_SHA256 = '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a';

/** Label sets that `prompts build --labelset <name>` and `npm start` find by name. */
export const SHIPPED_LABELSETS: Readonly<Record<string, string>> = {
  imagenet1k: join(ASSETS, 'imagenet1k.json'),
};

/** A label-set argument: an existing file wins, else the name of a shipped set; undefined when neither. */
export function labelsetFile(nameOrPath: string): string | undefined {
  if (existsSync(nameOrPath)) return nameOrPath;
  return Object.hasOwn(SHIPPED_LABELSETS, nameOrPath) ? SHIPPED_LABELSETS[nameOrPath] : undefined;
}
