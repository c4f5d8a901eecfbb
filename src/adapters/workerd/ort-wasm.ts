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
import type { OrtModule } from '../../model/ort-types.ts';
import { findWasmMemory } from '../../model/wasm-memory.ts';

const MARKER = new TextEncoder().encode('edge-clip:ort-wasm-module');
let memory: WebAssembly.Memory | undefined;
let configured = false;

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
  if (!configured) {
    configured = true;
    const original = WebAssembly.instantiate.bind(WebAssembly) as (
      s: unknown,
      i?: WebAssembly.Imports,
    ) => Promise<unknown>;
    (WebAssembly as { instantiate: unknown }).instantiate = async (source: unknown, imports?: WebAssembly.Imports) => {
      if (!isMarker(source)) return original(source, imports);
      const instance = (await original(ortWasm, imports)) as WebAssembly.Instance;
      memory = findWasmMemory(instance, imports);
      return { instance, module: ortWasm };
    };
    ort.env.wasm.wasmBinary = MARKER;
    // workerd has no threads: 1 thread, no proxy worker.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
  }
  return ort as unknown as OrtModule;
}

/** Bytes of ORT's wasm linear memory (what counts against the isolate's 128 MB in production). */
export const ortWasmMemoryBytes = (): number => memory?.buffer.byteLength ?? 0;
