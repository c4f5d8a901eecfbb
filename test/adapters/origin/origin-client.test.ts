import { describe, expect, it } from 'vitest';
import { OriginClient } from '../../../src/adapters/origin/origin-client.ts';

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
});
