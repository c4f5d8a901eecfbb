/** Node-side wiring of the wasm image decoders (the worker imports the same .wasm files as modules). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { initImageDecoders } from '../../model/image/decode-image.ts';

const compile = async (specifier: string) =>
  WebAssembly.compile(await readFile(createRequire(import.meta.url).resolve(specifier)));

export async function initImageDecodersForNode(): Promise<void> {
  initImageDecoders({
    jpeg: await compile('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'),
    webp: await compile('@jsquash/webp/codec/dec/webp_dec.wasm'),
    avif: await compile('@jsquash/avif/codec/dec/avif_dec.wasm'),
  });
}
