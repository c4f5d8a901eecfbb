/**
 * `npm run bench:segments -- <tower> <k> [build-dir]`: loads segment k of a segmented int8 build alone in
 * onnxruntime-web (a fresh process per segment, so the wasm memory is that segment's), runs it once on batch-1 input,
 * and prints the wasm memory after session creation and after the run.
 */
// Capture ORT's wasm memory: the same idea as the workerd adapter's hook, for Node.
const orig = WebAssembly.instantiate.bind(WebAssembly) as (
  s: unknown,
  i?: WebAssembly.Imports,
) => Promise<WebAssembly.WebAssemblyInstantiatedSource | WebAssembly.Instance>;
let memory: WebAssembly.Memory | undefined;
(WebAssembly as { instantiate: unknown }).instantiate = async (src: unknown, imports?: WebAssembly.Imports) => {
  const r = await orig(src, imports);
  const inst = 'instance' in r ? r.instance : r;
  for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memory = v;
  for (const m of Object.values(imports ?? {}))
    for (const v of Object.values(m as object)) if (v instanceof WebAssembly.Memory) memory = v;
  return r;
};
const { loadTowerSessions } = await import('../src/model/load-tower.ts');
const { loadOrt, diskReader } = await import('../tool/runtime/ort-runtimes.ts');
const { readManifest } = await import('../tool/runtime/local-build.ts');
const dir = process.argv[4] ?? 'model-shards/convnext_large_d_320-random-seg';
const tower = process.argv[2] as 'image' | 'text';
const k = Number(process.argv[3]);
const m = readManifest(dir);
const build = m.towers[tower].int8!;
const seg = build.segments[k];
const sub = { ...m, towers: { ...m.towers, [tower]: { int8: { ...build, segments: [seg] } } } };
const ort = await loadOrt('web');
const [session] = await loadTowerSessions(ort, sub as typeof m, tower, 'int8', diskReader(dir));
const afterLoad = memory!.buffer.byteLength;
const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
for (const spec of seg.inputs) {
  const dims = spec.dims.map((d) => (d === 'batch' ? 1 : d === 'sequence' ? 8 : (d as number)));
  const n = dims.reduce((a, b) => a * b, 1);
  feeds[spec.name] =
    spec.dtype === 'int64'
      ? new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: n }, (_, i) => BigInt(i === n - 1 ? 49407 : 320)),
          dims,
        )
      : new ort.Tensor('float32', new Float32Array(n).fill(0.1), dims);
}
await session.run(feeds);
const w = seg.externalData.reduce((a, e) => a + e.bytes, 0);
console.log(
  JSON.stringify({
    tower,
    k,
    weightsMiB: +(w / 2 ** 20).toFixed(1),
    loadMiB: +(afterLoad / 2 ** 20).toFixed(1),
    peakMiB: +(memory!.buffer.byteLength / 2 ** 20).toFixed(1),
  }),
);

export {};
