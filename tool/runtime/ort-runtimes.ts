/** onnxruntime for Node-side tools: the native binding or the same wasm build the worker ships. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadFile } from '../../src/model/load-tower.ts';
import type { OrtModule } from '../../src/model/ort-types.ts';
import type { FileRef } from '../../src/shared/manifest.ts';

export type RuntimeName = 'node' | 'web';

export async function loadOrt(runtime: RuntimeName, threads = 1): Promise<OrtModule> {
  if (runtime === 'node') return (await import('onnxruntime-node')) as unknown as OrtModule;
  const ort = await import('onnxruntime-web/wasm');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  return ort as unknown as OrtModule;
}

export function sessionOptionsFor(runtime: RuntimeName, threads = 1) {
  return runtime === 'node' ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {};
}

export const diskReader =
  (dir: string): ReadFile =>
  async (ref: FileRef) =>
    new Uint8Array(await readFile(join(dir, ref.file)));
