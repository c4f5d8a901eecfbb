/**
 * The guard src/adapters/workerd/ort-wasm.ts relies on: onnxruntime-web is handed a marker instead of wasm bytes and
 * the instantiate hook swaps in the precompiled module. An onnxruntime-web upgrade that compiles its wasm another way
 * (workerd refuses to compile from bytes) or stops calling WebAssembly.instantiate with the marker fails here.
 */
import { env } from 'cloudflare:workers';
import * as ortWeb from 'onnxruntime-web/wasm';
import { describe, expect, it } from 'vitest';
import { ortWasmMemoryBytes, workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { parseManifest } from '../../src/contracts/manifest.ts';
import { TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { loadSegmentSession } from '../../src/model/load-tower.ts';
import { SessionChain } from '../../src/model/session-chain.ts';
import { fixture } from './seed.ts';

describe('onnxruntime-web in workerd', () => {
  it('is the pinned version the wasm swap was checked against', () => {
    // Bump deliberately: re-read ort-wasm.ts's notes, then this test, then the version here.
    expect(ortWeb.env.versions.web).toBe('1.30.0');
  });

  it('creates sessions through the swapped-in module and runs them', async () => {
    const ort = workerdOrt();
    // workerd refuses WebAssembly compiled from bytes: only the imported module can have made the instance.
    await expect(WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).rejects.toThrow(
      /disallowed|not allowed/i,
    );
    const manifest = parseManifest(
      JSON.parse(new TextDecoder().decode(await fixture(env, 'models/tiny-st/manifest.json'))),
    );
    const [segment] = manifest.towers.text.int8!.segments;
    const read = async (ref: { file: string }) => ({ bytes: await fixture(env, `models/tiny-st/${ref.file}`) });
    const chain = new SessionChain(ort, [await loadSegmentSession(ort, segment, read)]);
    const features = await chain.run(TEXT_INPUT, BigInt64Array.from([49406n, 320n, 49407n]), [1, 3]);
    expect(features).toHaveLength(manifest.embedDim);
    expect(features.every(Number.isFinite)).toBe(true);
    // The hook saw the instance it made: its linear memory is what /v1/models reports.
    expect(ortWasmMemoryBytes()).toBeGreaterThan(0);
    await chain.release();
  });
});
