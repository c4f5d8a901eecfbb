import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { serializeConfig } from 'miniflare';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.ts';
import { addV8Flags } from './v8-flags.ts';

const WORKERD = createRequire(createRequire(import.meta.url).resolve('miniflare'))('workerd').default as string;
const WRAPPER = resolve(ROOT, 'test/workerd/workerd.sh');

/** A Worker that says whether V8 exposed `gc`, which only the `--expose-gc` flag does. */
const CONFIG = serializeConfig({
  services: [
    {
      name: 'main',
      worker: {
        modules: [{ name: 'main.mjs', esModule: 'export default { fetch: () => new Response(typeof gc) };' }],
        compatibilityDate: '2025-01-01',
      },
    },
  ],
  sockets: [{ name: 'http', address: '127.0.0.1:0', service: { name: 'main' }, http: {} }],
});

/** Starts `command` the way miniflare does (config on stdin, port on fd 3) and returns the Worker's answer. */
async function answer(command: string, config: Uint8Array): Promise<string> {
  const child = spawn(command, ['serve', '--binary', '--control-fd=3', '-'], {
    stdio: ['pipe', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, EDGE_CLIP_WORKERD: WORKERD },
  });
  try {
    child.stdin!.end(config);
    for await (const line of createInterface(child.stdio[3] as Readable)) {
      const message = JSON.parse(line) as { event: string; port?: number };
      if (message.event === 'listen') return await (await fetch(`http://127.0.0.1:${message.port}/`)).text();
    }
    throw new Error('workerd exited before listening');
  } finally {
    child.kill('SIGKILL');
  }
}

describe('V8 flags for the test workerd', () => {
  it('reach V8 through the rewritten config, and nothing else changes', async () => {
    expect(await answer(WORKERD, CONFIG)).toBe('undefined');
    expect(await answer(WORKERD, addV8Flags(CONFIG, ['--expose-gc']))).toBe('function');
  });

  it('the wrapper miniflare runs serves the same config', async () => {
    expect(await answer(WRAPPER, CONFIG)).toBe('undefined');
  });

  it('refuses a config that already sets v8Flags, or is not one message', () => {
    expect(() => addV8Flags(addV8Flags(CONFIG, ['--a']), ['--b'])).toThrow(/already sets v8Flags/);
    expect(() => addV8Flags(CONFIG.subarray(0, CONFIG.byteLength - 8), ['--a'])).toThrow(/not a single/);
  });
});
