/** The model as the app sees it: manifest, tokenizer and tower runners, each loaded lazily and once per isolate. */
import type { ModelManifest, Precision, TowerName } from '../shared/manifest.ts';
import { type LoadTimings, loadTowerSessions, type ReadFile, verifiedRead } from './load-tower.ts';
import type { InferenceSession, OrtModule } from './ort-types.ts';
import { SingleFlight } from './single-flight.ts';
import { ClipTokenizer } from './tokenizer.ts';
import { type TowerExecutor, TowerRunner } from './tower-runner.ts';

export interface ModelServiceDeps {
  /** Where a tower runs elsewhere (the GPU origin for fp32, segment Workers): its executor; undefined = here. */
  remote?: (tower: TowerName, precision: Precision) => TowerExecutor | undefined;
  ort: OrtModule;
  readManifest: () => Promise<ModelManifest>;
  read: ReadFile;
  concurrency?: number;
  sessionOptions?: InferenceSession.SessionOptions;
}

export interface TowerLoadStats extends LoadTimings {
  tower: TowerName;
  precision: Precision;
  files: number;
  bytes: number;
}

export class ModelService {
  private readonly manifests = new SingleFlight<ModelManifest>();
  private readonly tokenizers = new SingleFlight<ClipTokenizer>();
  private readonly towers = new SingleFlight<TowerExecutor>();
  /** Load statistics of every tower loaded so far, in load order. */
  readonly loads: TowerLoadStats[] = [];

  constructor(private readonly deps: ModelServiceDeps) {}

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

  tower(tower: TowerName, precision: Precision): Promise<TowerExecutor> {
    const remote = this.deps.remote?.(tower, precision);
    if (remote) return Promise.resolve(remote);
    return this.towers.get(`${tower}/${precision}`, async () => {
      const m = await this.manifest();
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
        ...timings,
        files: shards.length + segments.length,
        bytes: shards.reduce((a, s) => a + s.bytes, 0),
      });
      return new TowerRunner(this.deps.ort, sessions);
    });
  }
}
