/**
 * Calibration inputs for the int8 drift report: a built-in set (prompts from the shipped ImageNet class names and
 * templates, seeded synthetic images), or the user's own (`--calibration <dir|file.jsonl>`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { initImageDecodersForNode } from '../../src/adapters/node/image-wasm-node.ts';
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

const BUILTIN_PROMPTS = 32;
const BUILTIN_IMAGES = 6;
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.tif', '.tiff']);

/** Prompts spread over classes and templates: every 37th class with the templates in turn. */
function builtinTexts(): string[] {
  const { classnames, templates } = JSON.parse(readFileSync(SHIPPED_LABELSETS.imagenet1k, 'utf8')) as {
    classnames: string[];
    templates: string[];
  };
  return Array.from({ length: BUILTIN_PROMPTS }, (_, i) =>
    templates[(i * 7) % templates.length].replaceAll('{c}', classnames[(i * 37) % classnames.length]),
  );
}

/** Seeded pictures with photo-like statistics: gradients, edges, texture, flat colour, noise; normalized as the model expects. */
function builtinImages(cfg: PreprocessConfig): Float32Array {
  const S = cfg.size;
  const out = new Float32Array(BUILTIN_IMAGES * 3 * S * S);
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let n = 0; n < BUILTIN_IMAGES; n++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const u = x / S;
        const v = y / S;
        const rgb = [
          [u, v, 1 - u],
          [(Math.floor(u * 8) + Math.floor(v * 8)) % 2, 0.5, v],
          [0.5 + 0.5 * Math.sin(20 * u * v), 0.5 + 0.5 * Math.cos(30 * u), 0.4],
          [0.8, 0.3 + 0.4 * (Math.hypot(u - 0.5, v - 0.5) < 0.3 ? 1 : 0), 0.2],
          [rnd(), rnd(), rnd()],
          [0.5 + 0.3 * Math.sin(6.28 * (u + v)) + 0.1 * rnd(), 0.4 + 0.2 * u, 0.6 - 0.3 * v],
        ][n];
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
  await initImageDecodersForNode();
  const plane = 3 * cfg.size * cfg.size;
  const out = new Float32Array(files.length * plane);
  for (const [i, f] of files.entries()) await preprocessImage(new Uint8Array(readFileSync(f)), cfg, out, i * plane);
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
