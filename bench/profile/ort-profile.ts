/**
 * onnxruntime's profiler as a table. Its wasm build prints one JSON event per line when a session's profiling ends:
 * through the console.log it bound when its module started (workerd: route it before onnxruntime first loads), or
 * with fs.writeSync to stdout (Node).
 */

let sink: ((text: string) => void) | undefined;

/** Call before onnxruntime-web initialises (workerd); afterwards `consoleCapture` sees what it prints. */
export function routeConsoleLog(): void {
  const log = console.log.bind(console);
  console.log = (...args: unknown[]) => (sink ? sink(`${args.join(' ')}\n`) : log(...args));
}

/** Diverts what onnxruntime prints to `push` and returns the undo. */
export type Capture = (push: (text: string) => void) => () => void;

export const consoleCapture: Capture = (push) => {
  sink = push;
  return () => {
    sink = undefined;
  };
};

/** The input both runtimes profile: deterministic pixels, so that int8's dynamic scales match. */
export const syntheticPixels = (size: number): Float32Array =>
  Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.001) * 1.5);

export interface OpRow {
  op: string;
  count: number;
  ms: number;
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

function parseEvents(printed: string): ProfileEvent[] {
  const events: ProfileEvent[] = [];
  for (const line of printed.split('\n')) {
    const t = line.trim().replace(/,$/, '');
    if (!t.startsWith('{')) continue;
    try {
      events.push(JSON.parse(t) as ProfileEvent);
    } catch {
      // a line of another kind
    }
  }
  return events;
}

/** One node's kernel time in a run: which segment (session), its name in the graph, its op type. */
export interface NodeRow {
  segment: number;
  node: string;
  op: string;
  ms: number;
}

/** Every node's kernel time in the last `model_run` of each session's printed profile (one session per segment). */
function lastRun(printedPerSession: readonly string[]): { nodes: NodeRow[]; runMs: number } {
  const nodes: NodeRow[] = [];
  let runMs = 0;
  for (const [segment, printed] of printedPerSession.entries()) {
    const events = parseEvents(printed);
    const run = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').at(-1);
    if (!run) continue;
    runMs += run.dur / 1000;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < run.ts || e.ts > run.ts + run.dur) continue;
      nodes.push({
        segment,
        node: e.name.slice(0, -'_kernel_time'.length),
        op: e.args?.op_name ?? '?',
        ms: e.dur / 1000,
      });
    }
  }
  return { nodes, runMs };
}

/** Kernel time per op type in the last run (op types by time). */
export function opTable(printedPerSession: readonly string[]): { rows: OpRow[]; runMs: number } {
  const { nodes, runMs } = lastRun(printedPerSession);
  const by = new Map<string, OpRow>();
  for (const n of nodes) {
    const row = by.get(n.op) ?? { op: n.op, count: 0, ms: 0 };
    row.count++;
    row.ms += n.ms;
    by.set(n.op, row);
  }
  return { rows: [...by.values()].sort((a, b) => b.ms - a.ms), runMs };
}

/** Kernel time per node in the last run, slowest first: the nodes to work on, by name. */
export function nodeTable(printedPerSession: readonly string[]): NodeRow[] {
  return lastRun(printedPerSession).nodes.sort((a, b) => b.ms - a.ms);
}

/** Ends profiling of every session and returns what each printed. */
export async function endProfiling(
  sessions: readonly { endProfiling(): unknown }[],
  capture: Capture = consoleCapture,
): Promise<string[]> {
  const out: string[] = [];
  for (const s of sessions) {
    const chunks: string[] = [];
    const undo = capture((t) => chunks.push(t));
    try {
      await s.endProfiling();
    } finally {
      undo();
    }
    out.push(chunks.join(''));
  }
  return out;
}
