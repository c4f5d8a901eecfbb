import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../origin/start-origin.ts';
import { ROOT } from '../helpers/paths.ts';

/** `npm start` as a user runs it (tsx scripts/start.ts), up to its first failure. */
function start(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

/** One line naming the cause and the fix, and no stack trace. */
function expectOneLine(stderr: string, cause: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^npm start: /);
  expect(lines[0]).toMatch(cause);
  expect(lines[0]).toMatch(/ — /);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('npm start fails in one clear line', () => {
  let busy: Server;
  let busyPort: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  it('when the port is in use, before any building', async () => {
    const res = await start(['--port', String(busyPort)]);
    expect(res.code).toBe(1);
    expectOneLine(res.stderr, new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is already in use — .*--port`));
  });

  it('for an unknown --model', async () => {
    const res = await start(['--model', 'no-such-model', '--port', String(await freePort())]);
    expect(res.code).toBe(1);
    expectOneLine(res.stderr, /unknown model no-such-model: model-shards\/no-such-model has no manifest\.json — /);
  });

  it('for an unknown option or precision', async () => {
    const bad = await start(['--frobnicate']);
    expect(bad.code).toBe(1);
    expectOneLine(bad.stderr, /frobnicate.* — options: --model/);
    const precision = await start(['--precisions', 'int4']);
    expect(precision.code).toBe(1);
    expectOneLine(precision.stderr, /unknown precision int4 — use --precisions fp32,int8/);
  });
});
