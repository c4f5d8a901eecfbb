/**
 * `edge-clip preprocess`: an image file → the float32 [3,S,S] tensor the model sees (the worker's code path), and/or
 * the S×S crop before normalization as a PNG (what POST /v1/preprocess answers).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { nodeImageDecoders } from '../../../src/adapters/node/image-wasm-node.ts';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { DEFAULTS } from '../../../src/contracts/config.ts';
import type { PreprocessConfig } from '../../../src/contracts/manifest.ts';
import { rgbToPng } from '../../../src/model/image/encode-png.ts';
import { normalizationTable, normalizeRgb, preprocessToRgb } from '../../../src/model/image/preprocess-image.ts';
import { BUILTIN_CONFIGS, parseArch, parsePreprocess } from '../../checkpoint/openclip-config.ts';
import { intFlag, NO_LIMIT, oneOf, parse, required, str, UsageError } from '../args.ts';
import { commandSpec } from '../specs.ts';

export async function preprocess(argv: string[]) {
  const args = parse(argv, commandSpec('preprocess'));
  const file = required(args, 'image');
  const out = str(args, 'out');
  const pngOut = str(args, 'png');
  if (!out && !pngOut) throw new UsageError('give --out <file.f32> or --png <file.png> (or both)');
  const orientation = oneOf(args, 'orientation', ['ignore', 'exif'] as const, 'ignore');
  const model = str(args, 'model');
  const base = BUILTIN_CONFIGS.convnext_large_d_320;
  let cfg: PreprocessConfig = model
    ? readManifest(model).preprocess
    : parsePreprocess(base, parseArch(base, 'builtin'), 'builtin');
  const size = intFlag(args, 'size', 1, 4096);
  if (size !== undefined) cfg = { ...cfg, size };
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new UsageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
  const r = await preprocessToRgb(bytes, cfg, {
    orientation,
    maxPixels: intFlag(args, 'max-pixels', 1, NO_LIMIT, DEFAULTS.MAX_IMAGE_PIXELS),
    decoders: nodeImageDecoders(),
  });
  const write = (file: string, data: Uint8Array) => {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  };
  if (out) {
    const tensor = new Float32Array(3 * cfg.size * cfg.size);
    normalizeRgb(r.rgb, cfg.size, tensor, 0, normalizationTable(cfg));
    write(out, new Uint8Array(tensor.buffer));
  }
  if (pngOut) write(pngOut, rgbToPng(r.rgb, cfg.size, cfg.size));
  return {
    ...(out ? { out } : {}),
    ...(pngOut ? { png: pngOut } : {}),
    shape: [3, cfg.size, cfg.size],
    format: r.probe.format,
    original_size_wh: [r.probe.width, r.probe.height],
    orientation: r.view.orientation,
    resized_wh: [r.view.resized.width, r.view.resized.height],
    crop: r.view.crop,
    decode_ms: r.decodeMs,
    resize_ms: r.resizeMs,
  };
}
