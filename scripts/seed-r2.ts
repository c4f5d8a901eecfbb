/**
 * Uploads a build folder to the R2 bucket of wrangler.toml (local persistence, the storage `wrangler dev` uses).
 * Idempotent: objects whose stored sha256 matches are skipped.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MANIFEST_FILE, PRECISIONS, type Precision, TOWERS, towerFiles } from '../src/shared/manifest.ts';
import { plainBuffer, withLocalBindings } from '../tool/runtime/local-bindings.ts';
import { readManifest } from '../tool/runtime/local-build.ts';

export async function seedR2(
  dir: string,
  precisions: readonly Precision[] = PRECISIONS,
  log = (l: string) => process.stderr.write(`${l}\n`),
) {
  const manifest = readManifest(dir);
  const prefix = basename(dir);
  return withLocalBindings(async ({ MODELS: bucket }) => {
    const files = [
      manifest.tokenizer.vocab,
      ...TOWERS.flatMap((t) => precisions.flatMap((p) => towerFiles(manifest, t, p))),
    ];
    let uploaded = 0;
    for (const f of files) {
      const key = `${prefix}/${f.file}`;
      const head = await bucket.head(key);
      if (head?.customMetadata?.sha256 === f.sha256) continue;
      await bucket.put(key, plainBuffer(readFileSync(join(dir, f.file))), { customMetadata: { sha256: f.sha256 } });
      uploaded++;
      log(`seeded ${key} (${(f.bytes / 2 ** 20).toFixed(1)} MiB)`);
    }
    // The manifest goes last: a reader that sees it finds every file it lists.
    await bucket.put(`${prefix}/${MANIFEST_FILE}`, plainBuffer(readFileSync(join(dir, MANIFEST_FILE))));
    log(`R2 ${prefix}/: ${uploaded} uploaded, ${files.length - uploaded} already current`);
    return { prefix, uploaded, unchanged: files.length - uploaded };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, precisions] = process.argv.slice(2);
  if (!dir) throw new Error('usage: tsx scripts/seed-r2.ts model-shards/<id> [int8,fp32]');
  await seedR2(dir, (precisions?.split(',') as Precision[] | undefined) ?? PRECISIONS);
}
