/** `wrangler dev` on the real workerd, local only, as `npm start` and the benchmarks run it. */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/** Runs node_modules' wrangler directly (an npx PID would not own the workerd child), with metrics off. */
export function spawnWranglerDev(port: number, args: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(
    process.execPath,
    ['node_modules/wrangler/bin/wrangler.js', 'dev', '--local', '--ip', '127.0.0.1', '--port', String(port), ...args],
    { ...options, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  );
}
