import { describe, expect, it } from 'vitest';
import { loadOrt } from '../../src/adapters/node/ort-runtimes.ts';
import { IDENTITY_MODEL, startRuntime } from '../../src/model/ort-runtime.ts';
import type { OrtModule } from '../../src/model/ports.ts';

describe('starting onnxruntime ahead of the first session', () => {
  it.each(['web', 'node'] as const)(
    'the start-up model is a valid one-node graph in onnxruntime-%s',
    async (runtime) => {
      const ort = await loadOrt(runtime);
      const session = await ort.InferenceSession.create(IDENTITY_MODEL);
      const x = Float32Array.of(1.5, -2, 3);
      const out = await session.run({ x: new ort.Tensor('float32', x, [3]) });
      expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from(x));
      await session.release();
    },
  );

  it('creates one session per module however many loads ask, and releases it', async () => {
    const ort = await loadOrt('web');
    let created = 0;
    let released = 0;
    const counting = {
      ...ort,
      InferenceSession: {
        create: async (...args: Parameters<OrtModule['InferenceSession']['create']>) => {
          created++;
          const s = await ort.InferenceSession.create(...args);
          const release = s.release.bind(s);
          s.release = () => {
            released++;
            return release();
          };
          return s;
        },
      },
    } as OrtModule;
    await Promise.all([startRuntime(counting), startRuntime(counting), startRuntime(counting)]);
    await startRuntime(counting);
    expect({ created, released }).toEqual({ created: 1, released: 1 });
  });

  it('a failed start is not kept: the next load tries again', async () => {
    let attempts = 0;
    const failing = {
      InferenceSession: {
        create: async () => {
          attempts++;
          throw new Error(`no wasm (${attempts})`);
        },
      },
    } as unknown as OrtModule;
    await expect(startRuntime(failing)).rejects.toThrow('no wasm (1)');
    await expect(startRuntime(failing)).rejects.toThrow('no wasm (2)');
  });
});
