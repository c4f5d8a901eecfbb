/**
 * `npm run deploy:check`: what `wrangler deploy` would upload for each Worker the README deploys — the gateway and the
 * segment Worker (one script, deployed once per segment with other vars) — checked against Cloudflare's limits before
 * a deploy finds them: the gzip upload size (`wrangler deploy --dry-run`'s own figure) and the startup CPU of the
 * global scope (`wrangler check startup`'s profile, measured here on another CPU than Cloudflare's). Prints the
 * table; exits 1 when a Worker is over a limit.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { segmentWorkerToml } from './segment-configs.ts';

/** Workers Paid: 10 MB after compression; the startup (parse and run the global scope) limit is 1 s. */
export const LIMITS = { gzipBytes: 10 * 1024 * 1024, startupMs: 1000 };

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** CPU time in a V8 profile: every sample's interval except those spent idle. */
export function startupMs(profile: CpuProfile): number {
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  let us = 0;
  for (const [i, id] of profile.samples.entries()) if (!idle.has(id)) us += profile.timeDeltas[i] ?? 0;
  return us / 1000;
}

/** wrangler's "Total Upload: 16859.57 KiB / gzip: 4364.85 KiB", in bytes. */
export function uploadSize(wranglerOutput: string): { bytes: number; gzipBytes: number } {
  const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(wranglerOutput);
  if (!m) throw new Error(`no upload size in wrangler's output:\n${wranglerOutput.slice(-2000)}`);
  return { bytes: Number(m[1]) * 1024, gzipBytes: Number(m[2]) * 1024 };
}

export interface WorkerCheck {
  worker: string;
  bytes: number;
  gzipBytes: number;
  startupMs: number;
  problems: string[];
}

export function verdict(worker: string, size: { bytes: number; gzipBytes: number }, startup: number): WorkerCheck {
  const problems: string[] = [];
  const MiB = 2 ** 20;
  if (size.gzipBytes > LIMITS.gzipBytes)
    problems.push(`${(size.gzipBytes / MiB).toFixed(2)} MiB gzip, over ${LIMITS.gzipBytes / MiB} MiB`);
  if (startup > LIMITS.startupMs) problems.push(`startup ${startup.toFixed(0)} ms of CPU, over ${LIMITS.startupMs} ms`);
  return { worker, ...size, startupMs: startup, problems };
}

function wrangler(args: string[]): string {
  const res = spawnSync(process.execPath, [resolve('node_modules/wrangler/bin/wrangler.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0' },
  });
  const out = `${res.stdout}${res.stderr}`;
  if (res.status !== 0) throw new Error(`wrangler ${args.join(' ')} failed:\n${out.slice(-3000)}`);
  return out;
}

function check(worker: string, config: string, dir: string): WorkerCheck {
  const size = uploadSize(wrangler(['deploy', '--dry-run', '-c', config, '--outdir', join(dir, worker)]));
  const profile = join(dir, `${worker}.cpuprofile`);
  wrangler(['check', 'startup', '-c', config, '--outfile', profile]);
  return verdict(worker, size, startupMs(JSON.parse(readFileSync(profile, 'utf8')) as CpuProfile));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const dir = resolve('.wrangler/deploy-check');
  mkdirSync(dir, { recursive: true });
  const date = /compatibility_date = "([^"]+)"/.exec(readFileSync('wrangler.toml', 'utf8'))?.[1] ?? '2026-04-01';
  const segmentConfig = join(dir, 'segment.toml');
  writeFileSync(segmentConfig, segmentWorkerToml('edge-clip-seg-check', 'check', 'image', 0, date));
  const results = [check('gateway', 'wrangler.toml', dir), check('segment', segmentConfig, dir)];
  const MiB = 2 ** 20;
  const rows = results.map(
    (r) =>
      `| ${r.worker} | ${(r.bytes / MiB).toFixed(2)} | ${(r.gzipBytes / MiB).toFixed(2)} of ${LIMITS.gzipBytes / MiB} | ${r.startupMs.toFixed(0)} of ${LIMITS.startupMs} | ${r.problems.length ? r.problems.join('; ') : 'ok'} |`,
  );
  process.stdout.write(
    `${['| Worker | upload (MiB) | gzip (MiB) | startup CPU (ms, local) | verdict |', '| --- | ---: | ---: | ---: | --- |', ...rows].join('\n')}\n`,
  );
  if (results.some((r) => r.problems.length > 0)) process.exit(1);
}
