/** A build folder on disk as a `ClipModel`, for the Node side: the CLI, the origin, tests and benches. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeClipError } from '../../contracts/errors.ts';
import { type FileRef, MANIFEST_FILE, type ModelManifest, parseManifest } from '../../contracts/manifest.ts';
import { ClipModel } from '../../model/clip-model.ts';
import type { InferenceSession } from '../../model/ports.ts';
import { nodeDecoderModules } from './image-wasm-node.ts';
import { diskReader, loadOrt, type RuntimeName, sessionOptionsFor } from './ort-runtimes.ts';

/**
 * A build file's bytes, checked against the manifest's size and sha256: what leaves the build folder for another
 * store (R2, a Triton repository) is what was built, not whatever the disk now holds.
 */
export function readBuildFile(dir: string, ref: FileRef): Buffer {
  const bytes = readFileSync(join(dir, ref.file));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== ref.bytes || sha256 !== ref.sha256)
    throw new EdgeClipError(
      'BAD_MANIFEST',
      `${join(dir, ref.file)} is not the file the manifest lists (${bytes.length} bytes, sha256 ${sha256.slice(0, 12)}…; expected ${ref.bytes} bytes, ${ref.sha256.slice(0, 12)}…): rebuild it`,
    );
  return bytes;
}

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

export interface LocalModelOptions {
  /** onnxruntime-node (default) or the wasm build the Worker ships. */
  runtime?: RuntimeName;
  threads?: number;
  /** Session options instead of the runtime's defaults (the origin's execution providers). */
  sessionOptions?: InferenceSession.SessionOptions;
}

/** The build in `dir`, opened as the Worker opens its build from R2; `close()` frees its sessions. */
export async function openLocalModel(dir: string, options: LocalModelOptions = {}): Promise<ClipModel> {
  const runtime = options.runtime ?? 'node';
  const threads = options.threads ?? 1;
  const manifest = readManifest(dir);
  return ClipModel.open({
    ort: await loadOrt(runtime, threads),
    readManifest: async () => manifest,
    read: diskReader(dir),
    decoders: nodeDecoderModules(),
    sessionOptions: options.sessionOptions ?? sessionOptionsFor(runtime, threads),
  });
}
