/** Fixture locations shared by the Node tests. test/fixtures/ is read-only: tests write under .cache/ only. */
import { resolve } from 'node:path';

export { SHIPPED_VOCAB as VOCAB } from '../../tool/assets.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
/** Copies of the reference implementation's conformance fixtures (test/fixtures/README.md). */
export const FIXTURES = resolve(ROOT, 'test/fixtures');
export const TINY = resolve(FIXTURES, 'tiny');
export const OUTLIERS = resolve(FIXTURES, 'outliers');
export const PREPROCESS = resolve(FIXTURES, 'preprocess');
/** WebP inputs and goldens made the same way as preprocess/ (its make_goldens.py). */
export const PREPROCESS_WEBP = resolve(FIXTURES, 'preprocess-webp');
/** AVIF inputs, goldens from libavif's own decode (Pillow 9.4 cannot read AVIF; its make_goldens.py). */
export const PREPROCESS_AVIF = resolve(FIXTURES, 'preprocess-avif');
export const TOKENIZER_CASES = resolve(FIXTURES, 'tokenizer/cases.json');
export const TEST_CACHE = resolve(ROOT, '.cache/test');
/** Tiny fixture built from the safetensors file and from the PyTorch .bin (by test/global-setup.ts). */
export const TINY_ST = resolve(TEST_CACHE, 'models/tiny-st');
export const TINY_PT = resolve(TEST_CACHE, 'models/tiny-pt');
/** The outlier fixture, built the same way. */
export const OUTLIERS_ST = resolve(TEST_CACHE, 'models/outliers-st');
export const CLI = resolve(ROOT, 'bin/edge-clip.js');
/** The workerd tests' own copy (their global setup may run beside the Node one). */
export const WORKER_MODELS = resolve(TEST_CACHE, 'worker-models');
