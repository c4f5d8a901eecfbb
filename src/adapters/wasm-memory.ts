/**
 * Sees onnxruntime-web's WebAssembly instance as it is created, to read the size of its linear memory: what a
 * Worker's wasm side costs (it counts against the isolate's 128 MB in production).
 */

type Instantiate = (
  source: unknown,
  imports?: WebAssembly.Imports,
) => Promise<{ instance: WebAssembly.Instance; module: WebAssembly.Module } | WebAssembly.Instance>;

/**
 * Wraps `WebAssembly.instantiate`: calls that `isOrt` picks are onnxruntime's; with `module`, the source they pass is
 * replaced by that precompiled Module (workerd cannot compile wasm from bytes). Returns the memory size reader.
 */
export function watchOrtInstance(isOrt: (source: unknown) => boolean, module?: WebAssembly.Module): () => number {
  const original = WebAssembly.instantiate.bind(WebAssembly) as Instantiate;
  let memory: WebAssembly.Memory | undefined;
  (WebAssembly as { instantiate: Instantiate }).instantiate = async (source, imports) => {
    if (!isOrt(source)) return original(source, imports);
    const result = module
      ? { instance: (await original(module, imports)) as WebAssembly.Instance, module }
      : await original(source, imports);
    memory = findWasmMemory('instance' in result ? result.instance : result, imports);
    return result;
  };
  return () => memory?.buffer.byteLength ?? 0;
}

/** The memory is imported (threaded build) or exported (plain build); look in both. */
function findWasmMemory(
  instance: WebAssembly.Instance,
  imports: WebAssembly.Imports | undefined,
): WebAssembly.Memory | undefined {
  for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) return v;
  for (const mod of Object.values(imports ?? {})) {
    for (const v of Object.values(mod)) if (v instanceof WebAssembly.Memory) return v;
  }
  return undefined;
}
