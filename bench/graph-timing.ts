/**
 * Small graphs timed in onnxruntime-web in Node and in workerd (the bench Worker's `POST /ops`), for `bench:ops` and
 * `bench:kernels`: median over 5 groups of `runs` runs, per run, on a deterministic input.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrt } from '../src/adapters/node/ort-runtimes.ts';
import { ExternalDataWriter } from '../tool/onnx/external-data.ts';
import { GraphBuilder } from '../tool/onnx/graph-builder.ts';
import { type DevServer, startDev } from './workerd-server.ts';

/** The deterministic input of every timed graph (the bench Worker computes the same values). */
export const wave = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 1.37) * 2);

export interface TimedGraph {
  dims: number[];
  graph: Uint8Array;
  data?: { path: string; bytes: Uint8Array };
}

/** One graph with input `x` of shape `dims` and output `y`; its initializers travel as one external-data file. */
export function buildGraph(dims: number[], body: (g: GraphBuilder, x: string) => string): TimedGraph {
  const dir = mkdtempSync(join(tmpdir(), 'edge-clip-graph-'));
  try {
    const writer = new ExternalDataWriter(dir, 'graph', 1 << 30);
    const g = new GraphBuilder('graph', writer);
    g.probe('y', body(g, g.input({ name: 'x', dtype: 'float32', dims })));
    const graph = g.encode();
    const [file] = writer.finish();
    if (!file) return { dims, graph };
    const bytes = new Uint8Array(Buffer.concat(file.shards.map((s) => readFileSync(join(dir, s.file)))));
    return { dims, graph, data: { path: file.location, bytes } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Times a graph in onnxruntime-web in this process; returns the time per run and the output. */
export async function timeInNode(t: TimedGraph, runs: number): Promise<{ ms: number; y: Float32Array }> {
  const ort = await loadOrt('web');
  const session = await ort.InferenceSession.create(t.graph, {
    externalData: t.data ? [{ path: t.data.path, data: t.data.bytes }] : [],
  });
  try {
    const feed = {
      x: new ort.Tensor(
        'float32',
        wave(
          t.dims.reduce((a, b) => a * b, 1),
          0,
        ),
        t.dims,
      ),
    };
    for (let i = 0; i < 3; i++) await session.run(feed);
    const groups: number[] = [];
    for (let j = 0; j < 5; j++) {
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) await session.run(feed);
      groups.push((performance.now() - t0) / runs);
    }
    const y = (await session.run(feed)).y.data as Float32Array;
    return { ms: groups.sort((a, b) => a - b)[2], y };
  } finally {
    await session.release();
  }
}

/** The bench Worker under `wrangler dev` (no model needed for graphs and kernels). */
export const startBenchWorker = (port: number): Promise<DevServer> =>
  startDev('none', port, [], ['-c', 'bench/profile/wrangler.toml', '--persist-to', '.wrangler/bench-ops']);

/** Times a graph in workerd through the bench Worker at `url`. */
export async function timeInWorkerd(url: string, t: TimedGraph, runs: number): Promise<number> {
  const { graph, data } = t;
  const body = new Uint8Array(4 + graph.length + (data?.bytes.length ?? 0));
  new DataView(body.buffer).setUint32(0, graph.length, true);
  body.set(graph, 4);
  if (data) body.set(data.bytes, 4 + graph.length);
  const q = new URLSearchParams({ dims: t.dims.join(','), runs: String(runs) });
  if (data) q.set('data', data.path);
  const res = await fetch(`${url}/ops?${q}`, { method: 'POST', body });
  if (!res.ok) throw new Error(`bench Worker: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { ms: number }).ms;
}
