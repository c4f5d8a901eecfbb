/** Node-side wiring of the wasm JPEG decoder (the worker imports the same .wasm file as a module). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { initJpegDecoder } from '../../model/image/decode-jpeg.ts';

export async function initJpegForNode(): Promise<void> {
  const path = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
  await initJpegDecoder(await WebAssembly.compile(await readFile(path)));
}
