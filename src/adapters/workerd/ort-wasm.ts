/**
 * onnxruntime-web wiring for workerd.
 *
 * workerd forbids compiling WebAssembly from bytes at run time; the .wasm imported below arrives precompiled as a
 * WebAssembly.Module. onnxruntime-web 1.30 only accepts wasm *bytes* (env.wasm.wasmBinary), so we give it a marker
 * and, when its Emscripten glue calls WebAssembly.instantiate with exactly that marker, instantiate the imported
 * Module instead. This relies on ORT internals (checked 2026-11 against 1.30.0): the version is pinned in package.json
 * and test/worker/ort-wasm.test.ts fails loudly if an upgrade breaks it.
 */

import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import * as ort from 'onnxruntime-web/wasm';
import type { OrtModule } from '../../model/ports.ts';
import { watchOrtInstance } from '../wasm-memory.ts';

const MARKER = new TextEncoder().encode('edge-clip:ort-wasm-module');
let memoryBytes: (() => number) | undefined;

const isMarker = (source: unknown): boolean => {
  const bytes =
    source instanceof ArrayBuffer
      ? new Uint8Array(source)
      : ArrayBuffer.isView(source)
        ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
        : undefined;
  return !!bytes && bytes.length === MARKER.length && bytes.every((b, i) => b === MARKER[i]);
};

export function workerdOrt(): OrtModule {
  if (!memoryBytes) {
    memoryBytes = watchOrtInstance(isMarker, ortWasm);
    ort.env.wasm.wasmBinary = MARKER;
    // workerd has no threads: 1 thread, no proxy worker.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
  }
  return ort as unknown as OrtModule;
}

/** Bytes of ORT's wasm linear memory (what counts against the isolate's 128 MB in production). */
export const ortWasmMemoryBytes = (): number => memoryBytes?.() ?? 0;
