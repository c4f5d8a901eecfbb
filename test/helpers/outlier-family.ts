/**
 * A family of outlier checkpoints (tool/synth/outliers.ts) across small configs, seeds and outlier sizes, and held-out
 * inputs that are not calibration inputs: the texts of the reference fixtures and seeded images of other kinds than
 * the built-in calibration pictures.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenClipConfigFile } from '../../tool/checkpoint/openclip-config.ts';
import { sha256Bytes } from '../../tool/converter/file-hash.ts';
import type { OutlierSpec } from '../../tool/synth/outliers.ts';
import { writeSynthCheckpoint } from '../../tool/synth/synth-checkpoint.ts';
import { expectedOf, fixtureImages } from './fixtures.ts';
import { OUTLIERS, TEST_CACHE, TINY } from './paths.ts';

export interface FamilyMember {
  name: string;
  seed: number;
  text: { width: number; heads: number; layers: number };
  vision: { dims: number[]; depths: number[] };
  embedDim: number;
  outliers: OutlierSpec;
}

export const IMAGE_SIZE = 64;

/** Ten members: every kind alone and mixed, sizes across the ranges trained towers show. */
export const FAMILY: FamilyMember[] = [
  {
    name: 'gain16x4-hidden5',
    seed: 101,
    text: { width: 96, heads: 4, layers: 2 },
    vision: { dims: [16, 32, 64, 128], depths: [1, 1, 2, 1] },
    embedDim: 32,
    outliers: { gain: { factor: 16, count: 4 }, hidden: { factor: 5.3, count: 2 } },
  },
  {
    name: 'gain8x6-hidden2.7',
    seed: 102,
    text: { width: 128, heads: 4, layers: 3 },
    vision: { dims: [24, 48, 96, 192], depths: [1, 1, 3, 1] },
    embedDim: 48,
    outliers: { gain: { factor: 8, count: 6 }, hidden: { factor: 2.7, count: 3 } },
  },
  {
    name: 'gain24x2-residual100x2',
    seed: 103,
    text: { width: 96, heads: 4, layers: 3 },
    vision: { dims: [16, 32, 64, 128], depths: [1, 2, 2, 1] },
    embedDim: 32,
    outliers: { gain: { factor: 24, count: 2 }, residual: { factor: 100, count: 2 } },
  },
  {
    name: 'gain12x3-residual150x2',
    seed: 104,
    text: { width: 128, heads: 8, layers: 4 },
    vision: { dims: [32, 64, 128, 256], depths: [1, 1, 2, 1] },
    embedDim: 64,
    outliers: { gain: { factor: 12, count: 3 }, residual: { factor: 150, count: 2 } },
  },
  {
    name: 'gain40x2-hidden13',
    seed: 105,
    text: { width: 64, heads: 4, layers: 2 },
    vision: { dims: [16, 32, 64, 128], depths: [1, 1, 2, 1] },
    embedDim: 24,
    outliers: { gain: { factor: 40, count: 2 }, hidden: { factor: 13.3, count: 2 } },
  },
  {
    name: 'residual200x2',
    seed: 106,
    text: { width: 128, heads: 4, layers: 2 },
    vision: { dims: [24, 48, 96, 192], depths: [2, 1, 2, 1] },
    embedDim: 48,
    outliers: { residual: { factor: 200, count: 2 } },
  },
  {
    name: 'hidden15x3',
    seed: 107,
    text: { width: 96, heads: 6, layers: 3 },
    vision: { dims: [16, 32, 64, 128], depths: [1, 1, 3, 1] },
    embedDim: 32,
    outliers: { hidden: { factor: 15, count: 3 } },
  },
  {
    name: 'gain4x4-hidden2.5-residual20',
    seed: 108,
    text: { width: 128, heads: 4, layers: 2 },
    vision: { dims: [16, 32, 64, 128], depths: [1, 1, 2, 1] },
    embedDim: 32,
    outliers: { gain: { factor: 4, count: 4 }, hidden: { factor: 2.5, count: 2 }, residual: { factor: 20, count: 2 } },
  },
  {
    name: 'everywhere-gain30x3-hidden8-residual60',
    seed: 109,
    text: { width: 96, heads: 4, layers: 3 },
    vision: { dims: [24, 48, 96, 192], depths: [1, 1, 2, 1] },
    embedDim: 48,
    outliers: {
      gain: { factor: 30, count: 3 },
      hidden: { factor: 8, count: 2 },
      residual: { factor: 60, count: 1 },
      gainEverywhere: true,
    },
  },
  {
    name: 'gain6x8-hidden4x4-residual40x3',
    seed: 110,
    text: { width: 128, heads: 8, layers: 3 },
    vision: { dims: [32, 64, 128, 256], depths: [1, 1, 2, 1] },
    embedDim: 64,
    outliers: { gain: { factor: 6, count: 8 }, hidden: { factor: 4, count: 4 }, residual: { factor: 40, count: 3 } },
  },
];

export function memberConfig(m: FamilyMember): OpenClipConfigFile {
  const tiny = JSON.parse(readFileSync(join(TINY, 'open_clip_config.json'), 'utf8')) as OpenClipConfigFile & {
    model_cfg: { vision_cfg: Record<string, unknown>; text_cfg: Record<string, unknown> };
  };
  return {
    model_cfg: {
      ...tiny.model_cfg,
      embed_dim: m.embedDim,
      vision_cfg: { ...tiny.model_cfg.vision_cfg, image_size: IMAGE_SIZE, timm_model_kwargs: m.vision },
      text_cfg: { ...tiny.model_cfg.text_cfg, ...m.text },
    },
    preprocess_cfg: tiny.preprocess_cfg,
  };
}

/** Writes a member's checkpoint under .cache/test/family/ (once per spec) and returns its folder. */
export async function memberCheckpoint(m: FamilyMember): Promise<string> {
  const dir = join(
    TEST_CACHE,
    'family',
    `${m.name}-${sha256Bytes(new TextEncoder().encode(JSON.stringify(m))).slice(0, 8)}`,
  );
  if (!existsSync(dir)) await writeSynthCheckpoint(memberConfig(m), m.seed, dir, () => {}, m.outliers);
  return dir;
}

/** Texts no calibration set contains: the reference fixtures' (punctuation, scripts, emoji, one past 77 tokens). */
export const heldOutTexts = (): string[] => [
  ...expectedOf(TINY).texts,
  'a close-up photo of a lion eating meat on the savanna at dusk',
  'SCREENSHOT OF AN ERROR MESSAGE: "connection refused" (port 8787)',
];

/**
 * Held-out images [n, 3, 64, 64]: the reference fixtures' inputs (normalized noise-like pictures) and seeded images
 * of blobs and stripes, none of them among the calibration pictures.
 */
export function heldOutImages(): { data: Float32Array; count: number } {
  const fixtures = [fixtureImages(TINY), fixtureImages(OUTLIERS)];
  const plane = 3 * IMAGE_SIZE * IMAGE_SIZE;
  const own = 4;
  const data = new Float32Array((6 + own) * plane);
  data.set(fixtures[0], 0);
  data.set(fixtures[1], 3 * plane);
  let seed = 777;
  const rnd = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (let n = 0; n < own; n++) {
    const blobs = Array.from({ length: 5 }, () => [rnd(), rnd(), 0.05 + 0.2 * rnd(), rnd() * 3 - 1.5, rnd() * 3 - 1.5]);
    const freq = 2 + 10 * rnd();
    for (let y = 0; y < IMAGE_SIZE; y++)
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const u = x / IMAGE_SIZE;
        const v = y / IMAGE_SIZE;
        let field = 0;
        for (const [cx, cy, r, a] of blobs) field += a * Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (r * r));
        const stripes = n % 2 ? Math.sin(freq * 6.28 * (u * 0.7 + v * 0.3)) : 0;
        for (let c = 0; c < 3; c++)
          data[(6 + n) * plane + (c * IMAGE_SIZE + y) * IMAGE_SIZE + x] =
            field * (0.6 + 0.2 * c) + 0.8 * stripes + 0.3 * (rnd() - 0.5) - 0.1 * c;
      }
  }
  return { data, count: 6 + own };
}
