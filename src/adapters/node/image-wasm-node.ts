/** Node-side wiring of the wasm image decoders (the worker imports the same .wasm files as modules). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type ImageDecoders, imageDecoders } from '../../model/image/wasm-codec.ts';
import type { DecoderModules } from '../../model/ports.ts';

/** Compiles a package's .wasm file once per process, when first asked for; a failed read or compile is tried again. */
function compiled(specifier: string): () => Promise<WebAssembly.Module> {
  let module: Promise<WebAssembly.Module> | undefined;
  return () => {
    module ??= readFile(createRequire(import.meta.url).resolve(specifier))
      .then((b) => WebAssembly.compile(b))
      .catch((e: unknown) => {
        module = undefined;
        throw e;
      });
    return module;
  };
}

const modules: DecoderModules = {
  jpeg: compiled('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'),
  webp: compiled('@jsquash/webp/codec/dec/webp_dec.wasm'),
  avif: compiled('@jsquash/avif/codec/dec/avif_dec.wasm'),
};

/** The three decoders' modules, each compiled on its format's first image. */
export const nodeDecoderModules = (): DecoderModules => modules;

/** The decoders for code that preprocesses without a model (the CLI's preprocess, calibration, tests, benches). */
export const nodeImageDecoders = (): ImageDecoders => imageDecoders(modules);
