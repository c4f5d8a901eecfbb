/** Stored label sets: classifier blobs in a key-value store (Workers KV), keyed per model build. */
import { type Classifier, decodeClassifier, encodeClassifier } from '../contracts/classifier-blob.ts';
import { EdgeClipError } from '../contracts/errors.ts';
import { labelsetKey, labelsetPrefix, parseLabelsetKey } from '../contracts/kv-keys.ts';
import { checkLabelsetName } from '../contracts/labelset.ts';
import type { ModelManifest, Precision } from '../contracts/manifest.ts';
import type { KeyValueStore } from './ports.ts';

export interface LabelsetEntry {
  name: string;
  precision: Precision;
  buildHash: string;
  stale: boolean;
}

/**
 * How long an isolate keeps a decoded set: KV itself takes up to a minute to show a write made elsewhere, so a DELETE
 * or replacement through another isolate is seen here about as soon as KV would show it.
 */
export const DECODED_TTL_MS = 60_000;

export class ClassifierStore {
  /** Decoded classifiers by KV key: a 1000-label set decodes once a minute per isolate, not per request. */
  private readonly decoded = new Map<string, { classifier: Classifier; at: number }>();
  /** The model's sets as last listed, to tell a stale name from an unknown one without a KV list per request. */
  private listed: { modelId: string; at: number; entries: Promise<LabelsetEntry[]> } | undefined;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly now: () => number = Date.now,
  ) {}

  async list(m: ModelManifest): Promise<LabelsetEntry[]> {
    const keys = await this.kv.list(labelsetPrefix(m.modelId));
    return keys.flatMap((k) => {
      const p = parseLabelsetKey(k);
      return p
        ? [{ name: p.name, precision: p.precision, buildHash: p.buildHash, stale: p.buildHash !== m.buildHash }]
        : [];
    });
  }

  /** The set for this build, preferring `precision`; a set that exists only for another build is reported as stale. */
  async get(m: ModelManifest, name: string, precision: Precision): Promise<Classifier> {
    checkLabelsetName(name);
    for (const p of [precision, precision === 'int8' ? 'fp32' : 'int8'] as const) {
      const key = labelsetKey(m.modelId, m.buildHash, p, name);
      const cached = this.decoded.get(key);
      if (cached && this.now() - cached.at < DECODED_TTL_MS) return cached.classifier;
      this.decoded.delete(key);
      const bytes = await this.kv.get(key);
      if (bytes) {
        const c = decodeClassifier(bytes);
        if (c.header.buildHash !== m.buildHash) throw stale(name, c.header.buildHash, m.buildHash);
        this.decoded.set(key, { classifier: c, at: this.now() });
        return c;
      }
    }
    // Any caller can ask for a name that does not exist: one listing a minute per isolate, not one per request.
    if (!this.listed || this.listed.modelId !== m.modelId || this.now() - this.listed.at >= DECODED_TTL_MS)
      this.listed = { modelId: m.modelId, at: this.now(), entries: this.list(m) };
    const other = (await this.listed.entries).find((e) => e.name === name && e.stale);
    if (other) throw stale(name, other.buildHash, m.buildHash);
    throw new EdgeClipError(
      'NOT_FOUND',
      `label set ${name} does not exist for model ${m.modelId} (see GET /v1/labelsets)`,
    );
  }

  async put(m: ModelManifest, c: Classifier): Promise<string> {
    if (c.header.modelId !== m.modelId || c.header.buildHash !== m.buildHash)
      throw stale(c.header.name, c.header.buildHash, m.buildHash);
    // Rows of another width would score as NaN against this build's embeddings.
    if (c.header.dim !== m.embedDim)
      throw new EdgeClipError(
        'INVALID_INPUT',
        `classifier blob: rows of ${c.header.dim} values, but ${m.modelId} embeds in ${m.embedDim}`,
      );
    const key = labelsetKey(m.modelId, m.buildHash, c.header.precision, checkLabelsetName(c.header.name));
    await this.kv.put(key, encodeClassifier(c));
    this.decoded.delete(key);
    this.listed = undefined;
    return key;
  }

  /** Deletes the set at every precision of this build; returns how many were deleted. */
  async delete(m: ModelManifest, name: string): Promise<number> {
    checkLabelsetName(name);
    let n = 0;
    for (const p of ['fp32', 'int8'] as const) {
      const key = labelsetKey(m.modelId, m.buildHash, p, name);
      if (await this.kv.get(key)) {
        await this.kv.delete(key);
        this.decoded.delete(key);
        this.listed = undefined;
        n++;
      }
    }
    return n;
  }
}

const stale = (name: string, theirs: string, ours: string) =>
  new EdgeClipError(
    'STALE_LABELSET',
    `label set ${name} was built for build ${theirs}, but this worker serves build ${ours}: rebuild it with edge-clip prompts build`,
  );
