/**
 * `npm run bench:decode-memory`: peak resident memory while one image of each format and layout is decoded and
 * preprocessed (a fresh Node process each, the Worker's code and wasm decoders), against decode-memory.ts's estimate,
 * and the largest image of each layout that the default MAX_DECODE_BYTES admits. Writes the table into
 * docs/RELIABILITY.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../src/contracts/config.ts';
import { decodeEstimate } from '../src/model/image/decode-memory.ts';
import { probeImage } from '../src/model/image/probe-image.ts';
import { decodePeak } from '../test/helpers/decode-peak.ts';
import { LARGE_IMAGE_KINDS, largeImage } from '../test/helpers/large-images.ts';
import { publishReport } from './stats.ts';

const DIR = '.cache/bench/decode-memory';
const MP = [2, 6];
const MiB = 2 ** 20;
mkdirSync(DIR, { recursive: true });
const rows: string[] = [];
for (const kind of LARGE_IMAGE_KINDS) {
  const warm = join(DIR, `${kind}-warm`);
  writeFileSync(warm, await largeImage(kind, 64, 48));
  const cells: string[] = [];
  let layout = '';
  let allowed = 0;
  for (const mp of MP) {
    const w = Math.round(Math.sqrt((mp * 1e6 * 4) / 3));
    const h = Math.round((w * 3) / 4);
    const bytes = await largeImage(kind, w, h);
    const file = join(DIR, `${kind}-${mp}`);
    writeFileSync(file, bytes);
    const peak = await decodePeak(warm, file, w * h);
    const probe = probeImage(bytes);
    const { cost, orientation, bytes: needs } = decodeEstimate(bytes, probe, 'exif');
    layout = cost.layout + (orientation > 1 ? ', rotated' : '');
    allowed = (DEFAULTS.MAX_DECODE_BYTES - cost.fixedBytes) / cost.bytesPerPixel;
    const estimate = needs - bytes.length;
    cells.push(
      `${(peak.peakBytes / MiB).toFixed(1)} / ${(estimate / MiB).toFixed(1)} (${(peak.peakBytes / (w * h)).toFixed(1)} B/px)`,
    );
    process.stderr.write(`${kind} ${mp} MP: ${cells.at(-1)}\n`);
  }
  rows.push(
    `| ${kind} | ${layout} | ${cells.join(' | ')} | ${(Math.min(allowed, DEFAULTS.MAX_IMAGE_PIXELS) / 1e6).toFixed(1)} |`,
  );
}
publishReport(
  'bench-decode-memory',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:decode-memory\` (Node ${process.version}; peak resident memory added while one image is decoded and preprocessed, read from /proc; the file's own bytes excluded, the estimate counts them separately).`,
    '',
    `| image | estimated as | ${MP.map((m) => `${m} MP: measured / estimate MiB`).join(' | ')} | largest admitted at ${DEFAULTS.MAX_DECODE_BYTES / MiB} MiB (MP, less its file size) |`,
    `| --- | --- | ${MP.map(() => '---:').join(' | ')} | ---: |`,
    ...rows,
  ].join('\n'),
  'docs/RELIABILITY.md',
);
