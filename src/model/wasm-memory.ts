/** Finds onnxruntime-web's linear memory, whose size is what a Worker's wasm side costs. */

/** The memory is imported (threaded build) or exported (plain build); look in both. */
export function findWasmMemory(
  instance: WebAssembly.Instance,
  imports: WebAssembly.Imports | undefined,
): WebAssembly.Memory | undefined {
  for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) return v;
  for (const mod of Object.values(imports ?? {})) {
    for (const v of Object.values(mod)) if (v instanceof WebAssembly.Memory) return v;
  }
  return undefined;
}
