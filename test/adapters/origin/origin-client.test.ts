import { describe, expect, it } from 'vitest';
import { OriginClient } from '../../../src/adapters/origin/origin-client.ts';
import { encodeInferResponse, HEADER_LENGTH } from '../../../src/contracts/inference-protocol.ts';
import { TEXT_INPUT, TEXT_OUTPUT } from '../../../src/contracts/tensors.ts';

/** An origin that answers every inference with this text_embeds tensor. */
function answering(shape: number[], data: Float32Array): typeof fetch {
  return async () => {
    const { body, headerLength } = encodeInferResponse(
      'edgeclip_text',
      [{ name: TEXT_OUTPUT, datatype: 'FP32', shape, data }],
      true,
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
    for (let i = 0; i < 5; i++) expect(await client.ready()).toBe(false);
    const before = calls;
    // The circuit is still closed: a real request reaches the origin (and fails there) instead of failing fast.
    await expect(client.request('/v2/models/edgeclip_text/infer', { method: 'POST' })).rejects.toThrow(
      'the GPU origin failed',
    );
    expect(calls).toBeGreaterThan(before);
  });

  it('a ready origin is ready', async () => {
    const up: typeof fetch = async () => new Response(null, { status: 200 });
    expect(await new OriginClient(config, up).ready()).toBe(true);
  });

  it('refuses an answer that is not one finite row per input, so that nothing wrong reaches the cache', async () => {
    const ids = new BigInt64Array([49406n, 320n, 49407n, 49406n, 321n, 49407n]);
    const run = (f: typeof fetch) => new OriginClient(config, f).tower('text').run(TEXT_INPUT, ids, [2, 3]);
    await expect(run(answering([2, 4], new Float32Array(8).fill(0.5)))).resolves.toHaveLength(8);
    await expect(run(answering([1, 8], new Float32Array(8)))).rejects.toThrow(/of shape \[1,8\] for 2 input/);
    await expect(run(answering([8], new Float32Array(8)))).rejects.toThrow(/of shape \[8\]/);
    const nan = new Float32Array(8);
    nan[3] = Number.NaN;
    await expect(run(answering([2, 4], nan))).rejects.toThrow(/non-finite/);
  });
});
