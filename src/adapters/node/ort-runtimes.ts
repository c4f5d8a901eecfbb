/** onnxruntime for Node-side tools: the native binding or the same wasm build the worker ships. */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileRef } from '../../contracts/manifest.ts';
import type { OrtModule, ReadFile } from '../../model/ports.ts';

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
  async (ref: FileRef, into?: Uint8Array) => ({ bytes: await readInto(join(dir, ref.file), into) });

async function readInto(path: string, into?: Uint8Array): Promise<Uint8Array> {
  if (!into) return new Uint8Array(await readFile(path));
  const file = await open(path);
  try {
    const { size } = await file.stat();
    // A size mismatch is left for verifiedRead to report, as for a whole-file read.
    if (size !== into.length) return new Uint8Array(await file.readFile());
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await file.read(into, done, into.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return into;
  } finally {
    await file.close();
  }
}
