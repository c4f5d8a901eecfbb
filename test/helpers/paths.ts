/** Fixture locations shared by the Node tests. ../shared is read-only: tests write under .cache/ only. */
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SHARED = resolve(ROOT, '../shared');
export const TINY = resolve(SHARED, 'conformance/tiny');
export const VOCAB = resolve(SHARED, 'clip/bpe_simple_vocab_16e6.txt.gz');
export const PREPROCESS = resolve(SHARED, 'conformance/preprocess');
export const TEST_CACHE = resolve(ROOT, '.cache/test');
/** Tiny fixture built from the safetensors file and from the PyTorch .bin (by test/global-setup.ts). */
export const TINY_ST = resolve(TEST_CACHE, 'models/tiny-st');
export const TINY_PT = resolve(TEST_CACHE, 'models/tiny-pt');
export const CLI = resolve(ROOT, 'bin/edge-clip.js');
/** The workerd tests' own copy (their global setup may run beside the Node one). */
export const WORKER_MODELS = resolve(TEST_CACHE, 'worker-models');
