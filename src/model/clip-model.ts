/**
 * One build of the model, opened once per isolate or process: its manifest, tokenizer, image decoders and towers per
 * precision (sessions here, a segment chain, or the GPU origin), each loaded lazily and once. The pipelines
 * (src/model/pipelines/) are the only way anything runs it; `tower()` is for them, the origin and raw-tower tests.
 */
import { EdgeClipError } from '../contracts/errors.ts';
import type { ModelManifest, Precision, TowerName } from '../contracts/manifest.ts';
import { TEXT_INPUT } from '../contracts/tensors.ts';
import { ImageTowerRunner } from '../kernels/image-tower-runner.ts';
import { KernelImageTower, segmentCuts } from '../kernels/kernel-image-tower.ts';
import { KernelTextTower } from '../kernels/kernel-text-tower.ts';
import { pickKernels } from '../kernels/kernels.ts';
import { buildUnfitForKernels, towerInitializers } from '../kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../kernels/text-tower-runner.ts';
import { type ImageDecoders, imageDecoders } from './image/wasm-codec.ts';
import { type LoadTimings, loadTowerSessions, verifiedRead } from './load-tower.ts';
import type { ModelPorts, Tower } from './ports.ts';
import { Scheduler } from './scheduler.ts';
import { type BetweenSegments, SessionChain } from './session-chain.ts';
import { SharedWork } from './shared-work.ts';
import { SingleFlight } from './single-flight.ts';
import { packIds } from './text-batch.ts';
import { TextBatcher } from './text-batcher.ts';
import { ClipTokenizer } from './tokenizer.ts';

/** Token id rows in, the text tower's raw output rows out, in order. */
export type TextRows = (ids: readonly (readonly number[])[], signal?: AbortSignal) => Promise<Float32Array>;

export interface TowerLoadStats extends LoadTimings {
  /** From the start of the load to the sessions being ready (reads, hashing and creation overlap). */
  wallMs: number;
  /** What runs the tower: onnxruntime-web sessions, or our kernels (int8 towers named in `kernels`). */
  engine: 'onnxruntime' | 'kernels';
  tower: TowerName;
  precision: Precision;
  files: number;
  bytes: number;
}

export class ClipModel {
  private readonly manifests = new SingleFlight<ModelManifest>();
  private readonly tokenizers = new SingleFlight<ClipTokenizer>();
  private readonly towers = new SingleFlight<Tower>();
  private readonly local: { release(): Promise<void> }[] = [];
  private closed = false;
  /** The wasm image decoders, instantiated on the first image of their format. */
  readonly decoders: ImageDecoders;
  /** Load statistics of every tower loaded so far, in load order. */
  readonly loads: TowerLoadStats[] = [];
  /** The last load failure of each tower/precision, until a load succeeds. */
  private readonly failures = new Map<string, string>();
  private readonly storageChecks = new Map<string, { at: number; problem: Promise<string | undefined> }>();
  /** The isolate's one thread, when towers here share it (workerd). */
  readonly scheduler: Scheduler | undefined;
  private readonly batchers = new Map<string, TextBatcher>();
  /** Image rows being computed, by embedding key: concurrent requests for the same image share one run. */
  readonly imagesInFlight = new SharedWork<Float32Array>();

  private constructor(private readonly deps: ModelPorts) {
    this.decoders = imageDecoders(deps.decoders);
    const q = deps.queue;
    this.scheduler =
      q &&
      new Scheduler({
        maxWaitMs: { text: q.maxTextWaitMs, image: q.maxImageWaitMs },
        minImageShare: q.imageSharePercent / 100,
      });
  }

  static open(ports: ModelPorts): ClipModel {
    return new ClipModel(ports);
  }

  manifest(): Promise<ModelManifest> {
    return this.manifests.get('manifest', this.deps.readManifest);
  }

  tokenizer(): Promise<ClipTokenizer> {
    return this.tokenizers.get('tokenizer', async () => {
      const m = await this.manifest();
      return ClipTokenizer.fromGzip(await verifiedRead(this.deps.read, m.tokenizer.vocab), m.tokenizer);
    });
  }

  isLoaded(tower: TowerName, precision: Precision): boolean {
    return this.towers.has(`${tower}/${precision}`);
  }

  /**
   * Why this tower cannot be served here now, or undefined: its last load failed (integrity, storage), or its files
   * are missing or of the wrong size in storage (looked up at most every `maxAgeMs`). Remote towers answer for
   * themselves.
   */
  async problem(tower: TowerName, precision: Precision, maxAgeMs = 10_000): Promise<string | undefined> {
    if (this.deps.remote?.(tower, precision)) return undefined;
    const key = `${tower}/${precision}`;
    const failure = this.failures.get(key);
    if (failure) return failure;
    const m = await this.manifest();
    const build = m.towers[tower][precision];
    if (!build) return `this build has no ${precision} ${tower} tower`;
    const size = this.deps.size;
    if (!size || this.isLoaded(tower, precision)) return undefined;
    const cached = this.storageChecks.get(key);
    if (cached && Date.now() - cached.at < maxAgeMs) return cached.problem;
    const files = build.segments.flatMap((s) => [s.graph, ...s.externalData.flatMap((e) => e.shards)]);
    const problem = Promise.all(files.map(async (f) => ({ f, bytes: await size(f.file) }))).then((sizes) => {
      const bad = sizes.filter(({ f, bytes }) => bytes !== f.bytes);
      if (bad.length === 0) return undefined;
      const { f, bytes } = bad[0];
      return `${bad.length} of the ${files.length} files of the ${precision} ${tower} tower are missing or cut in storage (${f.file}: ${bytes === undefined ? 'missing' : `${bytes} of ${f.bytes} bytes`})`;
    });
    this.storageChecks.set(key, { at: Date.now(), problem });
    return problem;
  }

  tower(tower: TowerName, precision: Precision): Promise<Tower> {
    if (this.closed) return Promise.reject(new EdgeClipError('INFERENCE_FAILED', 'the model was closed'));
    const remote = this.deps.remote?.(tower, precision);
    if (remote) return Promise.resolve(remote);
    const key = `${tower}/${precision}`;
    const loading = this.towers.get(key, async () => {
      const t0 = performance.now();
      const m = await this.manifest();
      if (precision === 'int8' && this.deps.kernels?.towers.includes(tower)) {
        try {
          return await this.kernelTower(tower, m, t0);
        } catch (e) {
          // A build the kernels cannot run (older than their names): its sessions serve it (/v1/models names the
          // engine that loaded).
          if (!buildUnfitForKernels(e)) throw e;
        }
      }
      const timings: LoadTimings = { fetchMs: 0, verifyMs: 0, createMs: 0 };
      const sessions = await loadTowerSessions(this.deps.ort, m, tower, precision, this.deps.read, {
        concurrency: this.deps.concurrency,
        sessionOptions: this.deps.sessionOptions,
        timings,
      });
      const segments = m.towers[tower][precision]?.segments ?? [];
      const shards = segments.flatMap((s) => s.externalData.flatMap((e) => e.shards));
      this.loads.push({
        tower,
        precision,
        engine: 'onnxruntime',
        ...timings,
        wallMs: performance.now() - t0,
        files: shards.length + segments.length,
        bytes: shards.reduce((a, s) => a + s.bytes, 0),
      });
      // Image segments take the scheduler's turns themselves (or yield between, without one); a text run goes
      // straight through its segments, as it did when the text tower was one session (with a scheduler it runs
      // inside its batch's turn).
      const between: BetweenSegments =
        tower === 'text' ? 'none' : this.scheduler ? { scheduler: this.scheduler, kind: tower } : 'yield';
      const chain = new SessionChain(this.deps.ort, sessions, between);
      // close() may have come while this load was under way: it waits for it, and the chain is freed with the rest.
      this.local.push(chain);
      return chain;
    });
    return loading.then(
      (runner) => {
        this.failures.delete(key);
        return runner;
      },
      (e: unknown) => {
        this.failures.set(key, `loading the ${precision} ${tower} tower failed: ${(e as Error).message}`);
        throw e;
      },
    );
  }

  /**
   * An int8 tower in our kernels (`kernels`): the build's own weights packed into a kernel instance of its own (relaxed
   * SIMD where the start-up probe says it pays). Images run in as many scheduler steps as the build has segments; a
   * text batch runs straight through, inside its turn.
   */
  private async kernelTower(tower: TowerName, m: ModelManifest, t0: number): Promise<Tower> {
    const modules = this.deps.kernels?.modules;
    const segments = m.towers[tower].int8?.segments ?? [];
    if (!modules) throw new EdgeClipError('INFERENCE_FAILED', 'no kernel modules');
    const [{ kernels }, weights] = await Promise.all([
      pickKernels(modules),
      towerInitializers(segments, this.deps.read, { concurrency: this.deps.concurrency }),
    ]);
    let runner: Tower;
    if (tower === 'text') runner = new KernelTextTower(TextTowerRunner.load(kernels, weights, textHeads(m)));
    else {
      const between: BetweenSegments = this.scheduler ? { scheduler: this.scheduler, kind: 'image' } : 'yield';
      const image = new KernelImageTower(
        ImageTowerRunner.load(kernels, weights, m.preprocess.size),
        segmentCuts(segments),
        between,
      );
      this.local.push(image);
      runner = image;
    }
    const shards = segments.flatMap((s) => s.externalData.flatMap((e) => e.shards));
    this.loads.push({
      tower,
      precision: 'int8',
      engine: 'kernels',
      fetchMs: 0,
      verifyMs: 0,
      createMs: 0,
      wallMs: performance.now() - t0,
      files: shards.length + segments.length,
      bytes: shards.reduce((a, s) => a + s.bytes, 0),
    });
    return runner;
  }

  /**
   * How text rows reach the tower: here, with a scheduler, through the batcher that joins concurrent requests'
   * prompts; elsewhere (origin, segment Workers, Node) as one packed run per call.
   */
  async textRows(precision: Precision): Promise<TextRows> {
    const tower = await this.tower('text', precision);
    const batcher = this.batcherFor(tower, precision);
    if (batcher) return (ids, signal) => batcher.embed(ids, signal);
    return (ids, signal) => {
      const { data, dims } = packIds(ids);
      return tower.run(TEXT_INPUT, data, dims, signal);
    };
  }

  private batcherFor(tower: Tower, precision: Precision): TextBatcher | undefined {
    const q = this.deps.queue;
    let batcher = this.batchers.get(precision);
    // Towers elsewhere (the origin, segment Workers) batch for themselves.
    if (batcher || !this.scheduler || !q || this.deps.remote?.('text', precision)) return batcher;
    batcher = new TextBatcher(tower, TEXT_INPUT, this.scheduler, { rows: q.batchRows, tokens: q.batchTokens });
    this.batchers.set(precision, batcher);
    return batcher;
  }

  /** The isolate's queue (scheduler), prompt batches and shared image runs: /v1/models reports them. */
  queueStats(): Record<string, unknown> | undefined {
    if (!this.scheduler) return undefined;
    const batches = { batches: 0, rows: 0 };
    for (const b of this.batchers.values()) {
      batches.batches += b.stats.batches;
      batches.rows += b.stats.rows;
    }
    return { ...this.scheduler.stats(), textBatches: batches, imageRuns: { ...this.imagesInFlight.stats } };
  }

  /**
   * Reserves room for `units` of work on a tower that runs here (image: segments; text: prompts), or refuses it with
   * 503 OVERLOADED when it would wait too long (`check: false`: the next part of work already admitted). Returns the
   * release; a no-op for towers elsewhere.
   */
  async admit(tower: TowerName, precision: Precision, units: number, check = true): Promise<() => void> {
    if (!this.scheduler || units === 0 || this.deps.remote?.(tower, precision)) return () => undefined;
    const segments = tower === 'image' ? ((await this.manifest()).towers.image[precision]?.segments.length ?? 1) : 1;
    return this.scheduler.admit(tower, units * segments, check);
  }

  /** Frees every session this model loaded here (tools and tests; a Worker's isolate keeps its model). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.towers.clear());
    await Promise.all(this.local.splice(0).map((c) => c.release()));
  }
}
