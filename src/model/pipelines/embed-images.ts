/** Image bytes → decode, resize, crop, normalize → image tower → L2 normalization. */
import { IMAGE_INPUT } from '../../contracts/tensors.ts';
import type { ClipModel } from '../clip-model.ts';
import { embeddingKey } from '../embedding-cache.ts';
import { normalizationTable, type Orientation, preprocessImage } from '../image/preprocess-image.ts';
import type { Tower } from '../ports.ts';
import { l2NormalizeRows } from '../postprocess.ts';
import { cachedRows, type Embeddings, NO_TIMING, type PipelineOptions, startLoad, storeRows } from './rows.ts';

export interface ImageOptions extends PipelineOptions {
  /** "ignore" (the reference) or "exif" (apply a JPEG's EXIF orientation first). */
  orientation?: Orientation;
  /** Images whose header declares more pixels are refused (413) before decoding: MAX_IMAGE_PIXELS. */
  maxPixels: number;
  /** Images whose decoding would need more memory are refused (413): MAX_DECODE_BYTES; unset, no such limit. */
  maxDecodeBytes?: number;
}

const tables = new WeakMap<object, Float32Array[]>();

export async function embedImages(
  model: ClipModel,
  images: readonly Uint8Array[],
  options: ImageOptions,
): Promise<Embeddings> {
  const { precision, cache } = options;
  const timing = options.timing ?? NO_TIMING;
  const m = await model.manifest();
  const cfg = m.preprocess;
  const dim = m.embedDim;
  let table = tables.get(cfg);
  if (!table) {
    table = normalizationTable(cfg);
    tables.set(cfg, table);
  }
  const out = new Float32Array(images.length * dim);
  const orientation = options.orientation ?? 'ignore';
  const { keys, misses } = await cachedRows(
    cache,
    timing,
    'image',
    images.length,
    (i) => embeddingKey(m, precision, 'image', images[i], orientation),
    dim,
    out,
  );
  // The tower loads (on a cold isolate) while the images decode.
  const loading = misses.length > 0 ? startLoad(model, 'image', precision) : undefined;
  if (!loading) return { data: options.raw ? out : l2NormalizeRows(out, dim), dim, computed: 0 };
  // Identical images in flight (this request's or others') run once: the same bytes give the same row.
  const keyOf = (i: number) => keys[i] ?? embeddingKey(m, precision, 'image', images[i], orientation);
  const missKeys = await Promise.all(misses.map(keyOf));
  const own = misses.filter((_, k) => !model.imagesInFlight.has(missKeys[k]) && missKeys.indexOf(missKeys[k]) === k);
  const plane = 3 * cfg.size * cfg.size;
  // Decode everything first, so that a bad image fails the request (400/413/422) before any inference is spent and
  // before admission can answer it with a 503 that a retry would not cure.
  const pixels = new Map<number, Float32Array>();
  const preprocess = {
    orientation,
    maxPixels: options.maxPixels,
    maxDecodeBytes: options.maxDecodeBytes,
    decoders: model.decoders,
  };
  const decode = async (i: number) => {
    const px = new Float32Array(plane);
    const r = await preprocessImage(images[i], cfg, px, 0, preprocess, table);
    timing.add('decode', r.decodeMs);
    timing.add('preprocess', r.resizeMs);
    return px;
  };
  for (const i of own) pixels.set(i, await decode(i));
  const release = await model.admit('image', precision, own.length);
  // When one of this request's images fails, it leaves the runs of the others (they stop unless someone else waits).
  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
  try {
    const tower = await timing.measure('fetch', () => loading);
    const rows = await timing.measure('infer', () =>
      Promise.all(
        misses.map((i, k) =>
          model.imagesInFlight.run(missKeys[k], signal, async (runSignal) =>
            tower.run(IMAGE_INPUT, pixels.get(i) ?? (await decode(i)), [1, 3, cfg.size, cfg.size], runSignal),
          ),
        ),
      ),
    );
    const all = new Float32Array(rows.length * dim);
    for (const [k, r] of rows.entries()) all.set(r, k * dim);
    storeRows(cache, 'image', misses, keys, all, dim, out);
  } catch (e) {
    failed.abort(e);
    throw e;
  } finally {
    release();
  }
  return { data: options.raw ? out : l2NormalizeRows(out, dim), dim, computed: misses.length };
}

/** Preprocessed model input ([count, 3, S, S] normalized planes) → tower → L2 normalization. */
export async function embedPixels(
  model: ClipModel,
  pixels: Float32Array,
  count: number,
  options: PipelineOptions,
): Promise<Embeddings> {
  const m = await model.manifest();
  const timing = options.timing ?? NO_TIMING;
  const tower = await timing.measure('fetch', () => model.tower('image', options.precision));
  const rows = await runImages(tower, pixels, count, m.preprocess.size, { ...options, timing });
  return { data: options.raw ? rows : l2NormalizeRows(rows, m.embedDim), dim: m.embedDim, computed: count };
}

/** One image per run: batching buys little on one CPU thread and multiplies activation memory. */
async function runImages(
  tower: Tower,
  pixels: Float32Array,
  count: number,
  size: number,
  options: PipelineOptions & { timing: NonNullable<PipelineOptions['timing']> },
): Promise<Float32Array> {
  const plane = 3 * size * size;
  let rows: Float32Array | undefined;
  for (let k = 0; k < count; k++) {
    options.signal?.throwIfAborted();
    const input = pixels.subarray(k * plane, (k + 1) * plane);
    const row = await options.timing.measure('infer', () =>
      tower.run(IMAGE_INPUT, input, [1, 3, size, size], options.signal),
    );
    rows ??= new Float32Array(count * row.length);
    rows.set(row, k * row.length);
  }
  return rows ?? new Float32Array(0);
}
