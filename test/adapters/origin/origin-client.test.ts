import { describe, expect, it } from 'vitest';
import { OriginClient } from '../../../src/adapters/origin/origin-client.ts';
import { encodeInferResponse, HEADER_LENGTH } from '../../../src/contracts/inference-protocol.ts';
import { TEXT_INPUT, TEXT_OUTPUT } from '../../../src/contracts/tensors.ts';

const BUILD = 'b1d0000000000000';

/** An origin of build `version` that answers every inference with this text_embeds tensor. */
function answering(shape: number[], data: Float32Array, version: string | null = BUILD): typeof fetch {
  return async () => {
    const { body, headerLength } = encodeInferResponse(
      'edgeclip_text',
      [{ name: TEXT_OUTPUT, datatype: 'FP32', shape, data }],
      true,
      undefined,
      version ?? undefined,
    );
    return new Response(body as Uint8Array<ArrayBuffer>, { headers: { [HEADER_LENGTH]: String(headerLength) } });
  };
}

const config = {
  url: 'http://origin.invalid',
  timeoutMs: 1000,
  modelPrefix: 'edgeclip',
  breakerThreshold: 2,
  breakerCooldownMs: 60_000,
};

describe('OriginClient', () => {
  it('readiness probes go around the circuit breaker: failing probes never open it', async () => {
    let calls = 0;
    const down: typeof fetch = async () => {
      calls++;
      throw new Error('connection refused');
    };
    const client = new OriginClient(config, down);
    for (let i = 0; i < 5; i++) expect(await client.ready(BUILD)).toBe(false);
    const before = calls;
    // The circuit is still closed: a real request reaches the origin (and fails there) instead of failing fast.
    await expect(client.request('/v2/models/edgeclip_text/infer', { method: 'POST' })).rejects.toThrow(
      'the GPU origin failed',
    );
    expect(calls).toBeGreaterThan(before);
  });

  it('a ready origin is ready', async () => {
    const asked: string[] = [];
    const up: typeof fetch = async (input) => {
      asked.push(String(input));
      return new Response(null, { status: 200 });
    };
    expect(await new OriginClient(config, up).ready(BUILD)).toBe(true);
    // Its models are asked for at the edge's build: an origin of another build answers 404 there.
    expect(asked).toContain(`http://origin.invalid/v2/models/edgeclip_text/versions/${BUILD}/ready`);
  });

  it('refuses an answer that is not one finite row per input, so that nothing wrong reaches the cache', async () => {
    const ids = new BigInt64Array([49406n, 320n, 49407n, 49406n, 321n, 49407n]);
    const run = (f: typeof fetch) =>
      new OriginClient(config, f).tower('text', async () => BUILD).run(TEXT_INPUT, ids, [2, 3]);
    await expect(run(answering([2, 4], new Float32Array(8).fill(0.5)))).resolves.toHaveLength(8);
    await expect(run(answering([1, 8], new Float32Array(8)))).rejects.toThrow(/of shape \[1,8\] for 2 input/);
    await expect(run(answering([8], new Float32Array(8)))).rejects.toThrow(/of shape \[8\]/);
    const nan = new Float32Array(8);
    nan[3] = Number.NaN;
    await expect(run(answering([2, 4], nan))).rejects.toThrow(/non-finite/);
    // An answer that names another build, or none, is not this edge's model: refused before anything is cached.
    const other = answering([2, 4], new Float32Array(8).fill(0.5), 'f00d000000000000');
    await expect(run(other)).rejects.toThrow(/answered for build f00d000000000000, not this edge's b1d0000000000000/);
    await expect(run(answering([2, 4], new Float32Array(8), null))).rejects.toThrow(/\(none named\)/);
  });
});
