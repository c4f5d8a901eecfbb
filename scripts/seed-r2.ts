/**
 * Uploads a build folder to the R2 bucket of wrangler.toml (local persistence, the storage `wrangler dev` uses).
 * Idempotent and self-repairing: every stored object's bytes are hashed and compared with the manifest; only objects
 * that are missing, cut or corrupted are uploaded again.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { plainBuffer, withLocalBindings } from '../src/adapters/node/local-bindings.ts';
import { readBuildFile, readManifest } from '../src/adapters/node/local-model.ts';
import { MANIFEST_FILE, PRECISIONS, type Precision, TOWERS, towerFiles } from '../src/contracts/manifest.ts';
import { sha256Hex } from '../src/contracts/sha256.ts';

export async function seedR2(
  dir: string,
  precisions: readonly Precision[] = PRECISIONS,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
  persistTo?: string,
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
      const stored = await bucket.get(key);
      // Stored metadata can be right while the bytes are not (a disk error, a hand edit): hash the bytes.
      if (
        stored &&
        stored.size === f.bytes &&
        (await sha256Hex(new Uint8Array(await stored.arrayBuffer()))) === f.sha256
      )
        continue;
      if (stored) log(`R2 ${key} differs from the build: uploading it again`);
      await bucket.put(key, plainBuffer(readBuildFile(dir, f)), { customMetadata: { sha256: f.sha256 } });
      uploaded++;
      log(`seeded ${key} (${(f.bytes / 2 ** 20).toFixed(1)} MiB)`);
    }
    // The manifest goes last: a reader that sees it finds every file it lists.
    await bucket.put(`${prefix}/${MANIFEST_FILE}`, plainBuffer(readFileSync(join(dir, MANIFEST_FILE))));
    log(`R2 ${prefix}/: ${uploaded} uploaded, ${files.length - uploaded} verified (sha256) and current`);
    return { prefix, uploaded, unchanged: files.length - uploaded };
  }, persistTo);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, precisions] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: npm run seed -- model-shards/<id> [int8,fp32]\n');
    process.exit(2);
  }
  await seedR2(dir, (precisions?.split(',') as Precision[] | undefined) ?? PRECISIONS);
}
