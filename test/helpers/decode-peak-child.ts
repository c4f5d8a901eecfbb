/**
 * Run as its own process by decode-peak.ts: preprocesses `warm` (so the decoder instance and the code exist, as in a
 * Worker that has served an image), then reports the peak resident memory that preprocessing `image` added.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { nodeImageDecoders } from '../../src/adapters/node/image-wasm-node.ts';
import { preprocessImage } from '../../src/model/image/preprocess-image.ts';
import { GOLDEN_CFG } from './preprocess-goldens.ts';

const [warm, image, maxPixels] = process.argv.slice(2);
const status = (field: string) => {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]) * 1024;
};
// EXIF orientation applied, as a request may ask: a rotated JPEG costs one more RGB copy.
const options = { maxPixels: Number(maxPixels), decoders: nodeImageDecoders(), orientation: 'exif' as const };
const out = new Float32Array(3 * GOLDEN_CFG.size * GOLDEN_CFG.size);
await preprocessImage(new Uint8Array(readFileSync(warm)), GOLDEN_CFG, out, 0, options);
const bytes = new Uint8Array(readFileSync(image));
const gc = globalThis.gc as () => void;
gc();
gc();
// Resets VmHWM to the current resident size (Linux ≥ 4.0), so the peak below is this decode's alone.
writeFileSync('/proc/self/clear_refs', '5');
const before = status('VmRSS');
const result = await preprocessImage(bytes, GOLDEN_CFG, out, 0, options);
const peak = status('VmHWM');
gc();
const after = status('VmRSS');
process.stdout.write(
  JSON.stringify({
    peakBytes: peak - before,
    retainedBytes: after - before,
    width: result.probe.width,
    height: result.probe.height,
  }),
);
