/** Node-side wiring of the wasm image decoders (the worker imports the same .wasm files as modules). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type ImageDecoders, imageDecoders } from '../../model/image/wasm-codec.ts';
import type { DecoderModules } from '../../model/ports.ts';

const compile = async (specifier: string) =>
  WebAssembly.compile(await readFile(createRequire(import.meta.url).resolve(specifier)));

let modules: Promise<DecoderModules> | undefined;

/** The three decoders' modules, compiled once per process. */
export function nodeDecoderModules(): Promise<DecoderModules> {
  modules ??= Promise.all([
    compile('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'),
    compile('@jsquash/webp/codec/dec/webp_dec.wasm'),
    compile('@jsquash/avif/codec/dec/avif_dec.wasm'),
  ]).then(([jpeg, webp, avif]) => ({ jpeg, webp, avif }));
  return modules;
}

/** The decoders for code that preprocesses without a model (the CLI's preprocess, calibration, tests, benches). */
export async function nodeImageDecoders(): Promise<ImageDecoders> {
  return imageDecoders(await nodeDecoderModules());
}
