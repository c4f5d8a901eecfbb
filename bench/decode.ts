/**
 * `npm run bench:decode`: decode + PIL-exact resize/crop per image format in Node (the same code as the Worker's),
 * on the goldens' photos: median of 10 runs after a warm-up, and the first image of each wasm decoder (its instance
 * is made then).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessToRgb } from '../src/model/image/preprocess-image.ts';
import { GOLDEN_CFG } from '../test/helpers/preprocess-goldens.ts';
import { ms, publishReport, timeMedian } from './stats.ts';
import { benchPreprocessOptions } from './test-images.ts';

const FIXTURES = 'test/fixtures';
const IMAGES = [
  ['JPEG 4:2:0', 'preprocess/grace_hopper.jpg'],
  ['PNG', 'preprocess/chelsea.png'],
  ['PNG RGBA', 'preprocess/rocket_rgba.png'],
  ['WebP lossy', 'preprocess-webp/grace_hopper_lossy.webp'],
  ['WebP lossless', 'preprocess-webp/chelsea_lossless.webp'],
  ['WebP lossy + alpha', 'preprocess-webp/rocket_rgba_lossy.webp'],
  ['WebP animated (frame 0)', 'preprocess-webp/animated_offset.webp'],
  ['AVIF lossy 4:2:0', 'preprocess-avif/grace_hopper_lossy.avif'],
  ['AVIF lossless', 'preprocess-avif/chelsea_lossless.avif'],
  ['AVIF + alpha', 'preprocess-avif/rocket_rgba.avif'],
] as const;

const options = await benchPreprocessOptions();
const rows: string[] = [];
for (const [name, file] of IMAGES) {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, file)));
  const t0 = performance.now();
  const first = await preprocessToRgb(bytes, GOLDEN_CFG, options);
  const firstMs = performance.now() - t0;
  const { median } = await timeMedian(10, () => preprocessToRgb(bytes, GOLDEN_CFG, options));
  rows.push(
    `| ${name} | ${first.probe.width}×${first.probe.height} | ${(bytes.length / 1024).toFixed(0)} KiB | ${ms(firstMs)} | ${ms(median)} |`,
  );
}
publishReport(
  'bench-decode',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:decode\` (Node ${process.version}, this machine's 2 cores).`,
    '',
    '| image | size | file | first (ms, incl. a decoder instance) | median of 10 (ms) |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n'),
);
