/** A build folder on disk: its manifest, tokenizer and tower runners for Node-side tools. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeClipError } from '../../contracts/errors.ts';
import {
  MANIFEST_FILE,
  type ModelManifest,
  type Precision,
  parseManifest,
  type TowerName,
} from '../../contracts/manifest.ts';
import { loadTowerSessions, verifiedRead } from '../../model/load-tower.ts';
import { ClipTokenizer } from '../../model/tokenizer.ts';
import { TowerRunner } from '../../model/tower-runner.ts';
import { diskReader, loadOrt, type RuntimeName, sessionOptionsFor } from './ort-runtimes.ts';

export function readManifest(dir: string): ModelManifest {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new EdgeClipError('BAD_MANIFEST', `${join(dir, MANIFEST_FILE)}: missing (run edge-clip build first)`);
  }
  try {
    return parseManifest(JSON.parse(text));
  } catch (e) {
    throw new EdgeClipError('BAD_MANIFEST', `${join(dir, MANIFEST_FILE)}: ${(e as Error).message}`, { cause: e });
  }
}

export async function loadTokenizer(dir: string, manifest: ModelManifest): Promise<ClipTokenizer> {
  const gz = await verifiedRead(diskReader(dir), manifest.tokenizer.vocab);
  return ClipTokenizer.fromGzip(gz, manifest.tokenizer);
}

export async function loadRunner(
  dir: string,
  manifest: ModelManifest,
  tower: TowerName,
  precision: Precision,
  runtime: RuntimeName,
  threads = 1,
): Promise<TowerRunner> {
  const ort = await loadOrt(runtime, threads);
  const sessions = await loadTowerSessions(ort, manifest, tower, precision, diskReader(dir), {
    sessionOptions: sessionOptionsFor(runtime, threads),
  });
  return new TowerRunner(ort, sessions);
}
