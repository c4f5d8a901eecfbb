/** Seeds the miniflare R2 bucket from a build on disk (through the FIXTURES test binding). */
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { parseManifest, towerFiles } from '../../src/contracts/manifest.ts';

export async function fixture(env: Cloudflare.Env, path: string): Promise<Uint8Array> {
  const res = await env.FIXTURES.fetch(`http://fixtures/${path}`);
  if (!res.ok) throw new Error(`fixture ${path} missing`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function seedModel(env: Cloudflare.Env, build: string, prefix: string): Promise<ModelManifest> {
  const get = (file: string) => fixture(env, `models/${build}/${file}`);
  const manifestBytes = await get('manifest.json');
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(manifestBytes)));
  const files = [
    manifest.tokenizer.vocab,
    ...(['image', 'text'] as const).flatMap((t) => [
      ...towerFiles(manifest, t, 'fp32'),
      ...towerFiles(manifest, t, 'int8'),
    ]),
  ];
  for (const f of files) await env.MODELS.put(`${prefix}/${f.file}`, await get(f.file));
  await env.MODELS.put(`${prefix}/manifest.json`, manifestBytes);
  return manifest;
}
