import { describe, expect, it } from 'vitest';
import { FRESH_INSTANCE_AFTER_PIXELS, WasmCodec } from '../../../src/model/image/wasm-codec.ts';

describe('WasmCodec instances', () => {
  const module = {} as WebAssembly.Module;
  const counting = () => {
    const made: number[] = [];
    const codec = new WasmCodec('TEST', module, async () => {
      made.push(made.length);
    });
    return { made, codec };
  };

  it('keeps its instance across small images', async () => {
    const { made, codec } = counting();
    for (let i = 0; i < 3; i++) await codec.run(async () => 1, 1000);
    expect(made.length).toBe(1);
  });

  it('replaces an instance that a large image grew, at once: wasm memory never shrinks', async () => {
    const { made, codec } = counting();
    await codec.run(async () => 1, FRESH_INSTANCE_AFTER_PIXELS + 1);
    await Promise.resolve();
    expect(made.length).toBe(2);
    await codec.run(async () => 1, 1000);
    expect(made.length).toBe(2);
  });

  it('replaces an instance that failed; a refusal of the data is a 422, a trap a 500', async () => {
    const { made, codec } = counting();
    await expect(
      codec.run(async () => {
        throw new Error('bad marker');
      }, 10),
    ).rejects.toMatchObject({ status: 422, message: 'corrupt TEST: bad marker' });
    await expect(
      codec.run(async () => {
        throw new WebAssembly.RuntimeError('unreachable');
      }, 10),
    ).rejects.toMatchObject({ status: 500 });
    expect(made.length).toBe(2);
    await codec.run(async () => 1, 10);
    expect(made.length).toBe(3);
  });
});
