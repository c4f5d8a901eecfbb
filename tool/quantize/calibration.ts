/**
 * Calibration inputs for the int8 drift report: a built-in set (prompts from the shipped ImageNet class names and
 * templates, seeded synthetic images), or the user's own (`--calibration <dir|file.jsonl>`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { nodeImageDecoders } from '../../src/adapters/node/image-wasm-node.ts';
import { DEFAULTS } from '../../src/contracts/config.ts';
import type { PreprocessConfig } from '../../src/contracts/manifest.ts';
import { preprocessImage } from '../../src/model/image/preprocess-image.ts';
import { SHIPPED_LABELSETS } from '../assets.ts';
import { UsageError } from '../cli/args.ts';

export interface Calibration {
  /** "built-in" or the path given. */
  source: string;
  texts: string[];
  /** Model inputs, [n, 3, size, size] float32, already preprocessed. */
  images: Float32Array;
  imageCount: number;
}

const BUILTIN_PROMPTS = 160;
const BUILTIN_IMAGES = 16;

/**
 * Texts unlike the ImageNet prompts, so that calibration sees what users send too: other scripts and emoji (rare
 * byte-level tokens), digits and punctuation, markup, shouting, the empty prompt and one long enough to be cut.
 */
const VARIED_TEXTS = [
  '',
  'dog',
  '?!',
  'un chien qui court sur la plage ☀️',
  'ein Foto von einem Hund im Schnee 🐕❄️',
  '猫が窓辺で寝ている写真',
  'фотография собаки на снегу',
  'صورة لقطة على الأريكة',
  '고양이 사진 📷 그리고 강아지',
  'नमस्ते दुनिया, यह एक तस्वीर है',
  'Ελληνικά γράμματα: αβγ δεζ',
  '🎉🎂🍰 happy birthday!!! 🎈🎈',
  'IMG_2041.JPG — 3 of 12 (2019-07-04) #travel @home',
  'price: $1,299.99 / 50% off!!! call 555-0199',
  'v1.2.3-beta+build.7 [x86_64] => OK',
  '&lt;div class="title"&gt;A PHOTO OF A CAT&lt;/div&gt;',
  'WARNING: DO NOT ENTER — AUTHORIZED PERSONNEL ONLY',
  "it's a dog's life, isn't it? we'll see... they'd know",
];

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.tif', '.tiff']);

/**
 * Prompts spread over classes and templates (every 37th class with the templates in turn), the varied texts, and
 * runs of prompts joined past the context length. Many rows on purpose: the build's accuracy search holds the worst
 * of them to its target, and the worst of many rows bounds what unseen texts meet.
 */
function builtinTexts(): string[] {
  const { classnames, templates } = JSON.parse(readFileSync(SHIPPED_LABELSETS.imagenet1k, 'utf8')) as {
    classnames: string[];
    templates: string[];
  };
  const prompts = Array.from({ length: BUILTIN_PROMPTS }, (_, i) =>
    templates[(i * 7) % templates.length].replaceAll('{c}', classnames[(i * 37) % classnames.length]),
  );
  const joined = [0, 1, 2, 3].map((k) => prompts.slice(12 * k, 12 * k + 12).join(k % 2 ? ', and ' : ' '));
  return [...prompts, ...VARIED_TEXTS, ...joined];
}

type Pixel = (u: number, v: number) => number[];

/** Seeded pictures of more kinds: smooth fields, flat patches, block noise, rings with grain, hard stripes. */
function variedPicture(kind: number, rnd: () => number): Pixel {
  const p = Array.from({ length: 18 }, rnd);
  switch (kind % 5) {
    case 0:
      return (u, v) =>
        [0, 1, 2].map(
          (c) => 0.5 + 0.25 * Math.sin(20 * p[c] * u + 6 * p[c + 3]) * Math.cos(20 * p[c + 6] * v + 6 * p[c + 9]),
        );
    case 1: {
      const boxes = Array.from({ length: 6 }, (_, i) => [p[i], p[i + 6], 0.1 + 0.4 * p[i + 12], i]);
      return (u, v) => {
        const hit = boxes.find(([x, y, r]) => Math.abs(u - x) < r && Math.abs(v - y) < r / 2);
        return hit ? [p[hit[3]], p[hit[3] + 6], p[hit[3] + 12]] : [0.9, 0.9, 0.85];
      };
    }
    case 2: {
      const block = 2 + Math.floor(p[0] * 7);
      const grid = Array.from({ length: 3 * 64 * 64 }, rnd);
      return (u, v) =>
        [0, 1, 2].map(
          (c) => grid[c * 4096 + (Math.floor((u * 64) / block) % 64) * 64 + (Math.floor((v * 64) / block) % 64)],
        );
    }
    case 3:
      return (u, v) =>
        [0, 1, 2].map((c) => 0.5 + 0.4 * Math.cos(30 * p[c] * Math.hypot(u - p[3], v - p[4])) + 0.15 * (rnd() - 0.5));
    default: {
      const angle = 6.28 * p[0];
      const period = 0.02 + 0.1 * p[1];
      return (u, v) => {
        const on = Math.floor((u * Math.cos(angle) + v * Math.sin(angle)) / period) % 2 === 0;
        return on ? [p[2], p[3], p[4]] : [p[5], p[6], p[7]];
      };
    }
  }
}

/**
 * Seeded pictures with photo-like statistics — gradients, edges, texture, flat colour, noise — and more of five other
 * kinds, normalized as the model expects.
 */
function builtinImages(cfg: PreprocessConfig): Float32Array {
  const S = cfg.size;
  const out = new Float32Array(BUILTIN_IMAGES * 3 * S * S);
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const classic: Pixel[] = [
    (u, v) => [u, v, 1 - u],
    (u, v) => [(Math.floor(u * 8) + Math.floor(v * 8)) % 2, 0.5, v],
    (u, v) => [0.5 + 0.5 * Math.sin(20 * u * v), 0.5 + 0.5 * Math.cos(30 * u), 0.4],
    (u, v) => [0.8, 0.3 + 0.4 * (Math.hypot(u - 0.5, v - 0.5) < 0.3 ? 1 : 0), 0.2],
    () => [rnd(), rnd(), rnd()],
    (u, v) => [0.5 + 0.3 * Math.sin(6.28 * (u + v)) + 0.1 * rnd(), 0.4 + 0.2 * u, 0.6 - 0.3 * v],
  ];
  for (let n = 0; n < BUILTIN_IMAGES; n++) {
    const pixel = classic[n] ?? variedPicture(n - classic.length, rnd);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const rgb = pixel(x / S, y / S);
        for (let c = 0; c < 3; c++) {
          const value = Math.round(Math.min(1, Math.max(0, rgb[c])) * 255) / 255;
          out[((n * 3 + c) * S + y) * S + x] = (value - cfg.mean[c]) / cfg.std[c];
        }
      }
    }
  }
  return out;
}

async function imageTensors(files: string[], cfg: PreprocessConfig): Promise<Float32Array> {
  const options = { maxPixels: DEFAULTS.MAX_IMAGE_PIXELS, decoders: nodeImageDecoders() };
  const plane = 3 * cfg.size * cfg.size;
  const out = new Float32Array(files.length * plane);
  for (const [i, f] of files.entries())
    await preprocessImage(new Uint8Array(readFileSync(f)), cfg, out, i * plane, options);
  return out;
}

/**
 * `path`: a folder of images (and `*.txt` files, one prompt a line), or a JSONL file of `{"text": …}` and
 * `{"image": "path relative to the file"}` lines. Either kind may be absent; the built-in set fills in.
 */
export async function loadCalibration(path: string | undefined, cfg: PreprocessConfig): Promise<Calibration> {
  if (!path) {
    return { source: 'built-in', texts: builtinTexts(), images: builtinImages(cfg), imageCount: BUILTIN_IMAGES };
  }
  if (!existsSync(path)) throw new UsageError(`--calibration ${path}: no such file or folder`);
  const texts: string[] = [];
  const images: string[] = [];
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      const f = join(path, name);
      if (IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) images.push(f);
      else if (extname(name) === '.txt')
        texts.push(
          ...readFileSync(f, 'utf8')
            .split('\n')
            .filter((l) => l.trim()),
        );
    }
  } else {
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .forEach((line, i) => {
        let row: { text?: unknown; image?: unknown };
        try {
          row = JSON.parse(line);
        } catch {
          throw new UsageError(`--calibration ${path}: line ${i + 1} is not JSON`);
        }
        if (typeof row.text === 'string') texts.push(row.text);
        else if (typeof row.image === 'string') images.push(resolve(dirname(path), row.image));
        else throw new UsageError(`--calibration ${path}: line ${i + 1} has neither "text" nor "image"`);
      });
  }
  return {
    source: path,
    texts: texts.length ? texts : builtinTexts(),
    images: images.length ? await imageTensors(images, cfg) : builtinImages(cfg),
    imageCount: images.length || BUILTIN_IMAGES,
  };
}
