/**
 * `npm run bench:profile`: where the time of each full-size int8 tower goes, op type by op type, in onnxruntime-web
 * in Node and in workerd (the same .wasm), on the same inputs; and the plain run time in both without the profiler.
 * Writes the tables into docs/PERFORMANCE.md between the bench-profile markers.
 */
import fs, { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { openLocalModel, readManifest } from '../src/adapters/node/local-model.ts';
import { diskReader, loadOrt } from '../src/adapters/node/ort-runtimes.ts';
import type { TowerName } from '../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../src/contracts/tensors.ts';
import { loadTowerSessions } from '../src/model/load-tower.ts';
import { SessionChain } from '../src/model/session-chain.ts';
import { ensureFullBuild, FULL_DIR, FULL_MODEL_ID } from './full-build.ts';
import {
  type Capture,
  endProfiling,
  type NodeRow,
  nodeTable,
  type OpRow,
  opTable,
  syntheticPixels,
} from './profile/ort-profile.ts';
import { median, ms, publishReport, serverTiming } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, startDev } from './workerd-server.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SLOWEST_NODES = 12;
/** wrangler dev arguments that run the bench Worker against the R2 data `npm start` seeds. */
const PROFILE_WORKER = ['-c', 'bench/profile/wrangler.toml', '--persist-to', '.wrangler/state'];
const log = (l: string) => process.stderr.write(`[bench:profile] ${l}\n`);

/**
 * Sends a request while poking the server every 2 s: a fresh isolate's long first request was seen sitting idle in
 * `wrangler dev` (workerd at 0 % CPU) until another request arrived, then finishing normally (docs/RELIABILITY.md).
 * The poke keeps the measurement going; a queued /healthz costs the isolate nothing while it computes.
 */
async function fetchPoked(url: string, init?: RequestInit): Promise<Response> {
  const poke = setInterval(() => {
    fetch(`${new URL(url).origin}/healthz`).catch(() => undefined);
  }, 2000);
  try {
    return await fetch(url, init);
  } finally {
    clearInterval(poke);
  }
}

await ensureFullBuild();
const manifest = readManifest(FULL_DIR);
const tokenizer = await (await openLocalModel(FULL_DIR)).tokenizer();
const ids = tokenizer.tokenize('a photo of a dog').ids;
const size = manifest.preprocess.size;
const pixels = syntheticPixels(size);

/** Emscripten in Node writes what it prints with fs.writeSync to fd 1. */
const stdoutCapture: Capture = (push) => {
  const write = fs.writeSync;
  fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd !== 1) return (write as (...a: unknown[]) => number)(fd, data, ...rest);
    if (typeof data === 'string') {
      push(data);
      return Buffer.byteLength(data);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : bytes.length - offset;
    push(Buffer.from(bytes.subarray(offset, offset + length)).toString());
    return length;
  }) as typeof fs.writeSync;
  return () => {
    fs.writeSync = write;
  };
};

interface TowerProfile {
  plain: number;
  profiled: number;
  rows: OpRow[];
  /** Per node, slowest first (the Node profile). */
  nodes?: NodeRow[];
}

async function nodeProfile(tower: TowerName): Promise<TowerProfile> {
  const ort = await loadOrt('web');
  const times = async (profile: boolean) => {
    const sessions = await loadTowerSessions(ort, manifest, tower, 'int8', diskReader(FULL_DIR), {
      sessionOptions: { enableProfiling: profile },
    });
    const runner = new SessionChain(ort, sessions);
    const out: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const t0 = performance.now();
      if (tower === 'image') await runner.run(IMAGE_INPUT, pixels, [1, 3, size, size]);
      else await runner.run(TEXT_INPUT, BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
      out.push(performance.now() - t0);
    }
    const printed = profile ? await endProfiling(sessions, stdoutCapture) : [];
    await runner.release();
    return { time: median(out.slice(1)), printed };
  };
  const plain = await times(false);
  const profiled = await times(true);
  return {
    plain: plain.time,
    profiled: profiled.time,
    rows: opTable(profiled.printed).rows,
    nodes: nodeTable(profiled.printed),
  };
}

async function workerdProfile(url: string, tower: TowerName): Promise<TowerProfile> {
  const get = async (profile: boolean) => {
    const q = new URLSearchParams({ tower, runs: String(RUNS + 1), ids: ids.join(','), size: String(size) });
    if (!profile) q.set('profile', '0');
    const res = await fetchPoked(`${url}/?${q}`, { signal: AbortSignal.timeout(240_000) });
    if (!res.ok) throw new Error(`profile worker: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { times: number[]; profiles: string[] };
    return { time: median(body.times.slice(1)), printed: body.profiles };
  };
  const plain = await get(false);
  const profiled = await get(true);
  return { plain: plain.time, profiled: profiled.time, rows: opTable(profiled.printed).rows };
}

const node: Partial<Record<TowerName, TowerProfile>> = {};
for (const tower of ['image', 'text'] as const) {
  log(`onnxruntime-web in Node: ${tower}`);
  node[tower] = await nodeProfile(tower);
}
await seedR2(FULL_DIR, ['int8'], log);
const workerd: Partial<Record<TowerName, TowerProfile>> = {};
const dev = await startDev(
  FULL_MODEL_ID,
  8792,
  [],
  ['-c', 'bench/profile/wrangler.toml', '--persist-to', '.wrangler/state'],
);
try {
  for (const tower of ['image', 'text'] as const) {
    log(`onnxruntime-web in workerd: ${tower}`);
    workerd[tower] = await workerdProfile(dev.url, tower);
  }
} finally {
  await dev.stop();
}

// --- Cold start: a fresh isolate's first request against the bare parts of the same work -----------------------
const jpeg = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));
const FIVE_WORDS = 'a photo of a dog';
interface Cold {
  wall: number;
  server: number;
  loadWall: number;
  parts: Record<string, number>;
}
const cold: Partial<Record<TowerName, Cold>> = {};
for (const tower of ['image', 'text'] as const) {
  log(`cold ${tower}: first request of a fresh isolate`);
  const service = await startDev(FULL_MODEL_ID, 8793);
  let first: Omit<Cold, 'parts'>;
  try {
    const t0 = performance.now();
    const res = await fetchPoked(
      `${service.url}${tower === 'image' ? '/v1/images/embeddings' : '/v1/embeddings'}`,
      tower === 'image'
        ? { method: 'POST', headers: { 'content-type': 'image/jpeg', ...COMPUTE }, body: jpeg }
        : {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...COMPUTE },
            body: JSON.stringify({ input: FIVE_WORDS }),
          },
    );
    await res.arrayBuffer();
    const wall = performance.now() - t0;
    if (!res.ok) throw new Error(`cold ${tower}: ${res.status}`);
    const models = (await (await fetch(`${service.url}/v1/models`)).json()) as {
      data: { loads: { wallMs: number }[] }[];
    };
    first = { wall, server: serverTiming(res, 'total'), loadWall: models.data[0].loads[0].wallMs };
  } finally {
    await service.stop();
  }
  log(`cold ${tower}: bare parts in a fresh isolate`);
  const bench = await startDev(FULL_MODEL_ID, 8794, [], PROFILE_WORKER);
  try {
    const res = await fetchPoked(`${bench.url}/bare?tower=${tower}&text=${encodeURIComponent(FIVE_WORDS)}`, {
      method: 'POST',
      body: tower === 'image' ? jpeg : new Uint8Array(),
    });
    if (!res.ok) throw new Error(`bare ${tower}: ${res.status} ${await res.text()}`);
    cold[tower] = { ...first, parts: (await res.json()) as Record<string, number> };
  } finally {
    await bench.stop();
  }
}

const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:profile\` (int8 towers of \`${FULL_MODEL_ID}\`, one thread, median of ${RUNS} warm runs; image ${size}×${size} synthetic pixels, text "a photo of a dog" = ${ids.length} tokens).`,
  '',
];
for (const tower of ['image', 'text'] as const) {
  const n = node[tower]!;
  const w = workerd[tower]!;
  const total = (rows: OpRow[]) => rows.reduce((a, r) => a + r.ms, 0);
  const nt = total(n.rows);
  const wt = total(w.rows);
  lines.push(
    `**${tower} tower**: run without the profiler: Node ${ms(n.plain)} ms, workerd ${ms(w.plain)} ms (${(w.plain / n.plain).toFixed(2)}×); with it: ${ms(n.profiled)} / ${ms(w.profiled)} ms.`,
    '',
    '| op type | nodes | Node ms | share | workerd ms | share | workerd / Node |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const wBy = new Map(w.rows.map((r) => [r.op, r]));
  for (const r of n.rows.filter((r) => r.ms / nt >= 0.002)) {
    const wr = wBy.get(r.op);
    lines.push(
      `| ${r.op} | ${r.count} | ${ms(r.ms)} | ${((100 * r.ms) / nt).toFixed(1)} % | ${wr ? ms(wr.ms) : '—'} | ${wr ? ((100 * wr.ms) / wt).toFixed(1) : '—'} % | ${wr ? (wr.ms / r.ms).toFixed(2) : '—'}× |`,
    );
  }
  lines.push(
    `| all kernels | ${n.rows.reduce((a, r) => a + r.count, 0)} | ${ms(nt)} | | ${ms(wt)} | | ${(wt / nt).toFixed(2)}× |`,
    '',
    `The ${tower} tower's slowest nodes (onnxruntime-web in Node; segment = the session the node runs in): the ${SLOWEST_NODES} slowest, then the ${SLOWEST_NODES} slowest outside the int8 GEMMs:`,
    '',
    '| segment | node | op | ms | share of all kernels |',
    '| ---: | --- | --- | ---: | ---: |',
    ...[
      ...(n.nodes ?? []).slice(0, SLOWEST_NODES),
      ...(n.nodes ?? []).filter((x) => x.op !== 'MatMulIntegerToFloat').slice(0, SLOWEST_NODES),
    ].map((x) => `| ${x.segment} | \`${x.node}\` | ${x.op} | ${ms(x.ms)} | ${((100 * x.ms) / nt).toFixed(1)} % |`),
    '',
  );
}
lines.push(
  '**Cold start** (fresh isolate, first request; the bare parts measured one after another in another fresh isolate):',
  '',
  '| tower | first request (server) | wall clock | tower load (runtime start, reads + sha256 + create, overlapped) | request work | runtime start | read | sha256 | create | first run | sum of bare parts | first request / sum |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
);
for (const tower of ['image', 'text'] as const) {
  const c = cold[tower]!;
  const p = c.parts;
  const sum = Object.values(p).reduce((a, b) => a + b, 0);
  lines.push(
    `| ${tower} | ${ms(c.server)} ms | ${ms(c.wall)} ms | ${ms(c.loadWall)} ms | ${ms(p.request)} ms | ${ms(p.runtime)} ms | ${ms(p.read)} ms | ${ms(p.sha256)} ms | ${ms(p.create)} ms | ${ms(p.run)} ms | ${ms(sum)} ms | ${(c.server / sum).toFixed(2)}× |`,
  );
}
publishReport('bench-profile', lines.join('\n'));
