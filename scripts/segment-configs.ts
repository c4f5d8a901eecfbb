/**
 * Generates the wrangler configs of the production topology for a segmented build: one Worker per segment
 * (`src/segment-worker/index.ts` with SEGMENT_TOWER / SEGMENT_INDEX) and a gateway config, wrangler.toml plus
 * SEGMENTED and the SEG_<TOWER>_<k> service bindings. Written to .wrangler/segments/ (generated, not committed).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { segmentBinding } from '../src/adapters/workerd/segmented-tower.ts';
import { TOWERS } from '../src/contracts/manifest.ts';

const OUT = '.wrangler/segments';

/** The wrangler config of one segment Worker: the segment script, its segment's vars, the bucket. */
export function segmentWorkerToml(
  name: string,
  modelId: string,
  tower: string,
  index: number,
  compatibilityDate: string,
): string {
  return [
    `name = "${name}"`,
    `main = "${resolve('src/segment-worker/index.ts')}"`,
    `compatibility_date = "${compatibilityDate}"`,
    'compatibility_flags = ["nodejs_compat"]',
    // Reached only through the gateway's service binding: no public workers.dev URL, and no preview URL either
    // (wrangler keeps those on unless told).
    'workers_dev = false',
    'preview_urls = false',
    '',
    '[vars]',
    `MODEL_ID = "${modelId}"`,
    `SEGMENT_TOWER = "${tower}"`,
    `SEGMENT_INDEX = "${index}"`,
    '',
    '[[r2_buckets]]',
    'binding = "MODELS"',
    'bucket_name = "edge-clip-models"',
    '',
  ].join('\n');
}

export function segmentConfigs(buildDir: string): { gateway: string; segments: string[] } {
  const manifest = readManifest(buildDir);
  const modelId = basename(buildDir);
  const root = resolve('.');
  const base = readFileSync('wrangler.toml', 'utf8');
  const compatibilityDate = /compatibility_date = "([^"]+)"/.exec(base)?.[1] ?? '2026-04-01';
  mkdirSync(OUT, { recursive: true });
  const segments: string[] = [];
  const services: string[] = [];
  for (const tower of TOWERS) {
    for (const seg of manifest.towers[tower].int8?.segments ?? []) {
      const name = `edge-clip-seg-${tower}-${seg.index}`;
      const file = join(OUT, `${name}.toml`);
      writeFileSync(file, segmentWorkerToml(name, modelId, tower, seg.index, compatibilityDate));
      segments.push(file);
      services.push(`[[services]]\nbinding = "${segmentBinding(tower, seg.index)}"\nservice = "${name}"\n`);
    }
  }
  const gatewayToml = base
    .replace('main = "src/worker/index.ts"', `main = "${join(root, 'src/worker/index.ts')}"`)
    .replace(/MODEL_ID = "[^"]*"/, `MODEL_ID = "${modelId}"\nSEGMENTED = "true"`);
  const gateway = join(OUT, 'wrangler.gateway.toml');
  writeFileSync(gateway, `${gatewayToml}\n${services.join('\n')}`);
  return { gateway, segments };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: tsx scripts/segment-configs.ts model-shards/<segmented build>');
  process.stdout.write(`${JSON.stringify(segmentConfigs(dir), null, 2)}\n`);
}
