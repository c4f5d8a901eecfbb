/**
 * The int8 tower held to its fp32 features on the calibration rows, with precision spent where it is lost.
 *
 * The tower is first built with the plans calibration gives (channel-plan.ts). When its worst calibration row misses
 * the search target, a switch graph (`Layers` with `switches`) measures what each linear costs end to end: only that
 * linear in int8, every other one exact, on the worst rows — block by block first, then linear by linear inside the
 * blocks that cost most. The linears that cost most get more precision (more fp32 channels, then the whole linear in
 * fp32) and the search measures again, until the target holds or the budget of extra weight bytes is spent. The
 * target sits closer to 1 than the gate (MARGIN), so that inputs calibration never saw keep a margin above it.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { diskReader } from '../../src/adapters/node/ort-runtimes.ts';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import type { Int8Drift, Int8Plan, TowerBuild, TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { loadSegmentSessions } from '../../src/model/load-tower.ts';
import type { OrtModule } from '../../src/model/ports.ts';
import { SessionChain } from '../../src/model/session-chain.ts';
import { packIds } from '../../src/model/text-batch.ts';
import type { ClipTokenizer } from '../../src/model/tokenizer.ts';
import { INT8_SWITCHES, type PlannedInt8 } from '../graphs/layers.ts';
import { joinShards } from '../onnx/external-data.ts';
import { type Calibrated, CONDITIONING_NOISE } from './activation-stats.ts';
import type { Calibration } from './calibration.ts';
import type { Spend } from './channel-plan.ts';
import { rowCosines } from './row-cosines.ts';

export const DEFAULT_MIN_INT8_COS = 0.995;

/**
 * How close to 1 the search aims, in parts of the gate's allowance 1 − gate: twice as close as the gate when the
 * errors are even across rows, ten times when a few rows sit far below the rest (a heavy tail: near-ties in attention,
 * where inputs calibration never saw can land lower still).
 */
const MARGIN = { even: 2, heavyTail: 10 };
/** At most this share of the calibration rows is left out as ill-conditioned (the worst-conditioned first). */
const MAX_ILL_CONDITIONED = 0.1;

/** The worst row's error over this many times the median row's makes a heavy tail. */
const HEAVY_TAIL = 4;

function searchTarget(gate: number, cos: number[]): number {
  const errors = cos.map((c) => 1 - c).sort((a, b) => a - b);
  const heavy = errors[errors.length - 1] > HEAVY_TAIL * errors[errors.length >> 1];
  return 1 - (1 - gate) / (heavy ? MARGIN.heavyTail : MARGIN.even);
}

/** Extra weight bytes the search may spend, as a share of the tower's plain int8 weights. */
export const SPEND_BUDGET = 0.15;

/** Search rounds at most (each measures a spend on a few sites, kept or undone). */
const MAX_ATTEMPTS = 16;

/** The calibration rows the sensitivity probe runs on: the worst ones. */
const PROBE_ROWS = { image: 2, text: 4 };

/** Linears (and blocks) that cost at least this share of the worst one's cost are spent on in one round. */
const SPEND_SHARE = 0.3;
const MAX_BLOCKS_PER_ROUND = 4;
const MAX_LINEARS_PER_ROUND = 4;

type LinearShape = Pick<PlannedInt8, 'in' | 'out' | 'table'>;

/** A built int8 tower: its manifest entry, where its files are, and its linears' plans. */
export interface Int8Build {
  build: TowerBuild;
  dir: string;
  linears: ReadonlyMap<string, PlannedInt8>;
  /** Switch graphs only: each int8 linear's position in INT8_SWITCHES. */
  switchIndex?: ReadonlyMap<string, number>;
}

export interface Int8SearchJob {
  tower: TowerName;
  calibration: Calibration;
  calibrated: Calibrated;
  tokenizer: ClipTokenizer;
  embedDim: number;
  imageSize: number;
  /** --min-int8-cos: the build fails when the worst calibration row stays below it. */
  gate: number;
  /** The int8 tower as the build delivers it (segmented when asked), with this spend. */
  buildFinal(spend: ReadonlyMap<string, Spend>): Promise<Int8Build>;
  /** One unsegmented switch graph with this spend, in a scratch folder. */
  buildSwitches(spend: ReadonlyMap<string, Spend>): Promise<Int8Build>;
  /** Removes a build's files. */
  discard(build: Int8Build): void;
  /** Per calibration row, how far fp32 itself moves under small weight noise (activation-stats.ts). */
  conditioning(): Promise<number[]>;
  log(line: string): void;
}

export interface Int8Result {
  build: TowerBuild;
  drift: Int8Drift;
  plan: Int8Plan;
}

type Feeds = Record<string, ort.Tensor>;

/** The calibration rows `rows` as batches of model inputs (images two at a time, prompts packed sixteen at a time). */
function* batches(job: Int8SearchJob, rows: number[]): Generator<{ rows: number[]; feeds: Feeds }> {
  const size = job.tower === 'image' ? 2 : 16;
  for (let i = 0; i < rows.length; i += size) {
    const part = rows.slice(i, i + size);
    if (job.tower === 'image') {
      const S = job.imageSize;
      const plane = 3 * S * S;
      const x = new Float32Array(part.length * plane);
      for (const [k, r] of part.entries())
        x.set(job.calibration.images.subarray(r * plane, (r + 1) * plane), k * plane);
      yield { rows: part, feeds: { [IMAGE_INPUT]: new ort.Tensor('float32', x, [part.length, 3, S, S]) } };
    } else {
      const p = packIds(part.map((r) => job.tokenizer.tokenize(job.calibration.texts[r]).ids));
      yield { rows: part, feeds: { [TEXT_INPUT]: new ort.Tensor('int64', p.data, p.dims) } };
    }
  }
}

type Run = (feeds: Feeds) => Promise<Float32Array>;

/** Cosine with the fp32 reference of each of `rows`, in order. */
async function cosines(job: Int8SearchJob, run: Run, rows: number[]): Promise<number[]> {
  const E = job.embedDim;
  const out: number[] = [];
  for (const batch of batches(job, rows)) {
    const features = await run(batch.feeds);
    batch.rows.forEach((r, k) => {
      const ref = job.calibrated.reference.subarray(r * E, (r + 1) * E);
      out.push(rowCosines(features.subarray(k * E, (k + 1) * E), ref, E)[0]);
    });
  }
  return out;
}

const allRows = (job: Int8SearchJob) => [
  ...Array(job.tower === 'image' ? job.calibration.imageCount : job.calibration.texts.length).keys(),
];

/** The delivered tower's cosines and the time its runs took (onnxruntime-node, one thread). */
async function measureBuild(job: Int8SearchJob, built: Int8Build): Promise<{ cos: number[]; ms: number }> {
  const node = ort as unknown as OrtModule;
  const sessions = await loadSegmentSessions(node, built.build.segments, diskReader(built.dir), {
    sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 },
  });
  const runner = new SessionChain(node, sessions);
  let ms = 0;
  try {
    const cos = await cosines(
      job,
      async (feeds) => {
        const t0 = performance.now();
        const out = Object.values(await runner.runTensors(feeds))[0].data as Float32Array;
        ms += performance.now() - t0;
        return out;
      },
      allRows(job),
    );
    return { cos, ms };
  } finally {
    await runner.release();
  }
}

/** The block a linear belongs to: its name up to `.attn` / `.mlp` (downsamples, heads and projections stand alone). */
const blockOf = (linear: string): string => linear.replace(/\.(attn|mlp)\..*$/, '');

/**
 * The next step of precision for a site, largest first: the whole site in fp32 when the budget allows (near-ties in
 * attention react to any rounding left, so only exactness reliably removes a site's cost), else K/8 fp32 channels,
 * else K/32.
 */
function escalate(current: Spend | undefined, shape: LinearShape, fits: (s: Spend) => boolean): Spend | undefined {
  const steps: Spend[] = [
    { extraChannels: current?.extraChannels ?? 0, fp32: true },
    { extraChannels: Math.ceil(shape.in / 8), fp32: false },
    { extraChannels: Math.ceil(shape.in / 32), fp32: false },
  ];
  return steps.find((s) => (s.fp32 || s.extraChannels > (current?.extraChannels ?? 0)) && fits(s));
}

/**
 * Bytes a spend adds to a site: side weights beside the int8 ones (float32 for a linear, float16 for a table), or
 * float32 weights instead of int8.
 */
const spendBytes = (s: Spend, shape: LinearShape): number =>
  s.fp32 ? 3 * shape.in * shape.out : (shape.table ? 2 : 4) * Math.min(s.extraChannels, shape.in) * shape.out;

const totalSpend = (spend: ReadonlyMap<string, Spend>, linears: ReadonlyMap<string, LinearShape>): number =>
  [...spend].reduce((n, [name, s]) => n + spendBytes(s, linears.get(name)!), 0);

/** End-to-end cost of quantizing only `names` (every other linear exact) on `rows`: the mean of 1 − cosine. */
async function costOf(
  job: Int8SearchJob,
  run: Run,
  index: ReadonlyMap<string, number>,
  names: string[],
  rows: number[],
) {
  const switches = new Float32Array(index.size);
  for (const n of names) switches[index.get(n)!] = 1;
  const cos = await cosines(
    job,
    (feeds) => run({ ...feeds, [INT8_SWITCHES]: new ort.Tensor('float32', switches, [switches.length]) }),
    rows,
  );
  return cos.reduce((a, c) => a + (1 - c), 0) / cos.length;
}

/**
 * The sites that cost most end to end on the worst rows: blocks first, then sites inside the costliest blocks; sites
 * in `skip` (no affordable step left) are not candidates.
 */
async function costliest(
  job: Int8SearchJob,
  run: Run,
  index: ReadonlyMap<string, number>,
  rows: number[],
  skip: ReadonlySet<string>,
) {
  const blocks = new Map<string, string[]>();
  for (const name of index.keys())
    if (!skip.has(name)) blocks.set(blockOf(name), [...(blocks.get(blockOf(name)) ?? []), name]);
  if (blocks.size === 0) return [];
  const blockCost: [string, number][] = [];
  for (const [block, names] of blocks) blockCost.push([block, await costOf(job, run, index, names, rows)]);
  blockCost.sort((a, b) => b[1] - a[1]);
  const linearCost: [string, number][] = [];
  for (const [block, cost] of blockCost.slice(0, MAX_BLOCKS_PER_ROUND)) {
    if (cost < SPEND_SHARE * blockCost[0][1]) break;
    const names = blocks.get(block)!;
    if (names.length === 1) linearCost.push([names[0], cost]);
    else for (const n of names) linearCost.push([n, await costOf(job, run, index, [n], rows)]);
  }
  linearCost.sort((a, b) => b[1] - a[1]);
  return linearCost
    .filter(([, c]) => c >= SPEND_SHARE * linearCost[0][1])
    .slice(0, MAX_LINEARS_PER_ROUND)
    .map(([n]) => n);
}

async function switchSession(built: Int8Build): Promise<{ run: Run; release: () => Promise<void> }> {
  const [segment] = built.build.segments;
  joinShards(built.dir, segment.externalData);
  const session = await ort.InferenceSession.create(join(built.dir, segment.graph.file), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const output = session.outputNames[0];
  return {
    run: async (feeds) => (await session.run(feeds))[output].data as Float32Array,
    release: () => session.release(),
  };
}

/** Cosines with every switch on: the int8 tower with the switch graph's spend. */
const allOn = (run: Run, index: ReadonlyMap<string, number>): Run => {
  const switches = new ort.Tensor('float32', new Float32Array(index.size).fill(1), [index.size]);
  return (feeds) => run({ ...feeds, [INT8_SWITCHES]: switches });
};

/** The `n` rows with the lowest cosines. */
const worstRows = (cos: number[], n: number): number[] => [...cos.keys()].sort((a, b) => cos[a] - cos[b]).slice(0, n);

/** The mean of 1 − cosine over the worst quarter of the rows: the search's measure of a spend (steadier than the min). */
function tailError(cos: number[]): number {
  const errors = cos.map((c) => 1 - c).sort((x, y) => y - x);
  const n = Math.max(1, Math.ceil(errors.length / 4));
  return errors.slice(0, n).reduce((a, e) => a + e, 0) / n;
}

/** A spend measured on its switch graph (kept open to find the costliest sites next). */
interface Trial {
  spend: Map<string, Spend>;
  cos: number[];
  index: ReadonlyMap<string, number>;
  run: Run;
  close(): Promise<void>;
}

async function trial(job: Int8SearchJob, spend: Map<string, Spend>): Promise<Trial> {
  const built = await job.buildSwitches(spend);
  let session: Awaited<ReturnType<typeof switchSession>>;
  try {
    session = await switchSession(built);
  } catch (e) {
    // The switch graph on disk is this trial's alone: a session that cannot open it must not leave it behind.
    job.discard(built);
    throw e;
  }
  const index = built.switchIndex!;
  const close = async () => {
    await session.release();
    job.discard(built);
  };
  try {
    const cos = await cosines(job, allOn(session.run, index), allRows(job));
    return { spend, cos, index, run: session.run, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Spends precision round by round on the sites that cost most, keeping a round only when it lowers the tail error
 * (errors of many small sources partly cancel, so a more precise site can leave a row worse); a site whose step
 * did not help, or does not fit the budget, is not tried again.
 */
async function search(
  job: Int8SearchJob,
  linears: ReadonlyMap<string, LinearShape>,
  target: number,
  budget: number,
  gated: (cos: number[]) => number[],
) {
  const skip = new Set<string>();
  let rounds = 0;
  const trialOf = async (spend: Map<string, Spend>) => {
    const t = await trial(job, spend);
    return { ...t, cos: gated(t.cos) };
  };
  let best = await trialOf(new Map());
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS && Math.min(...best.cos) < target; attempt++) {
      const names = await costliest(job, best.run, best.index, worstRows(best.cos, PROBE_ROWS[job.tower]), skip);
      if (names.length === 0) break;
      const next = new Map(best.spend);
      const stepped: string[] = [];
      for (const n of names) {
        const step = escalate(
          next.get(n),
          linears.get(n)!,
          (s) => totalSpend(new Map(next).set(n, s), linears) <= budget,
        );
        if (!step) skip.add(n);
        else {
          next.set(n, step);
          stepped.push(n);
        }
      }
      if (stepped.length === 0) continue;
      const candidate = await trialOf(next);
      const kept = tailError(candidate.cos) < tailError(best.cos);
      job.log(
        `  ${job.tower} int8 search: more precision for ${stepped.join(', ')}: worst row ${Math.min(...best.cos).toFixed(5)} → ${Math.min(...candidate.cos).toFixed(5)}, tail error ${tailError(best.cos).toExponential(2)} → ${tailError(candidate.cos).toExponential(2)}${kept ? ` (kept; ${kib(totalSpend(next, linears))} of ${kib(budget)} spent)` : ' (no better: undone)'}`,
      );
      if (kept) {
        await best.close();
        best = candidate;
        rounds++;
      } else {
        await candidate.close();
        for (const n of stepped) skip.add(n);
      }
    }
  } finally {
    await best.close();
  }
  return { spend: best.spend, rounds };
}

/**
 * Builds the int8 tower, searching for where to spend precision when calibration shows it is lost. Rows on which fp32
 * itself is ill-conditioned (it moves by more than a tenth of the gate's allowance under CONDITIONING_NOISE) are
 * reported and not held to the gate.
 */
export async function buildInt8Tower(job: Int8SearchJob): Promise<Int8Result> {
  const { log, tower } = job;
  let spend = new Map<string, Spend>();
  let built = await job.buildFinal(spend);
  const base = await measureBuild(job, built);
  let measured = base;
  let target = searchTarget(job.gate, base.cos);
  const baseBytes = built.build.weightBytes;
  const { linears } = built;
  let rounds = 0;
  let excluded = new Set<number>();
  const gated = (c: number[]) => c.map((v, r) => (excluded.has(r) ? 1 : v));
  if (Math.min(...base.cos) < target) {
    const moved = await job.conditioning();
    const limit = (1 - job.gate) / 10;
    excluded = new Set(
      [...moved.keys()]
        .filter((r) => moved[r] > limit)
        .sort((a, b) => moved[b] - moved[a])
        .slice(0, Math.floor(moved.length * MAX_ILL_CONDITIONED)),
    );
    // The margin follows the held rows' tail: ill-conditioned rows would make it heavy and the search chase them.
    target = searchTarget(
      job.gate,
      base.cos.filter((_, r) => !excluded.has(r)),
    );
    log(
      `  ${tower} int8: worst calibration row ${Math.min(...gated(base.cos)).toFixed(5)} is below the search target ${target.toFixed(5)}; measuring where precision is lost${excluded.size ? ` (${excluded.size} rows not held: fp32 itself moves by more than ${limit.toExponential(1)} under ${100 * CONDITIONING_NOISE} % weight noise)` : ''}`,
    );
    if (Math.min(...gated(base.cos)) < target) {
      job.discard(built);
      ({ spend, rounds } = await search(job, linears, target, SPEND_BUDGET * baseBytes, gated));
      built = await job.buildFinal(spend);
      measured = await measureBuild(job, built);
    }
  }
  const held = measured.cos.filter((_, r) => !excluded.has(r));
  const min = Math.min(...held);
  const drift: Int8Drift = {
    rows: held.length,
    minCos: min,
    meanCos: held.reduce((a, c) => a + c, 0) / held.length,
    calibration: job.calibration.source,
    ...(excluded.size && { illConditioned: excluded.size }),
  };
  const extraBytes = totalSpend(spend, linears);
  const plan = planSummary(built, spend, extraBytes, target, rounds, measured.ms / base.ms);
  log(
    `  ${tower} int8 vs fp32 on ${held.length} calibration ${tower === 'image' ? 'images' : 'prompts'}: cosine min ${min.toFixed(5)}, mean ${drift.meanCos.toFixed(5)}; ${plan.fp32Channels} fp32 channels in ${plan.channelLinears} linears, ${plan.fp32Linears.length} linears in fp32${rounds ? `; the search spent ${kib(extraBytes)} (${pct(extraBytes, baseBytes)} of the weights) and the tower runs ${pct(measured.ms - base.ms, base.ms)} longer in onnxruntime-node` : ''}`,
  );
  if (min < job.gate) {
    job.discard(built);
    throw new EdgeClipError(
      'BAD_CHECKPOINT',
      `the int8 ${tower} tower drifts from fp32: cosine ${min.toFixed(5)} on its worst calibration row is below --min-int8-cos ${job.gate} after spending ${pct(extraBytes, baseBytes)} more weight bytes (the budget is ${100 * SPEND_BUDGET} %); nothing was written (lower the threshold to accept it, or build fp32 only)`,
    );
  }
  return { build: built.build, drift, plan };
}

const kib = (bytes: number) => `${(bytes / 2 ** 10).toFixed(1)} KiB`;
const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

function planSummary(
  built: Int8Build,
  spend: ReadonlyMap<string, Spend>,
  extraBytes: number,
  target: number,
  rounds: number,
  timeRatio: number,
): Int8Plan {
  const plans = [...built.linears.values()].map((l) => l.plan);
  return {
    linears: plans.length,
    fp32Channels: plans.reduce((n, p) => n + (p.fp32 ? 0 : p.fp32Channels.length), 0),
    channelLinears: plans.filter((p) => !p.fp32 && p.fp32Channels.length > 0).length,
    fp32Linears: [...built.linears].filter(([, l]) => l.plan.fp32).map(([n]) => n),
    searchTarget: target,
    searchRounds: rounds,
    spentBytes: extraBytes,
    timeRatio,
    spent: Object.fromEntries(spend),
  };
}
