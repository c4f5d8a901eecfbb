/**
 * `npm run bench:hostile`: every crafted hostile image (test/helpers/crafted-images.ts, bombs at 1 GiB) sent to
 * `wrangler dev` over HTTP, one at a time, with workerd's resident memory read from /proc before and after each, and a
 * valid image embedded before and after all of them. Loopback only, bounded. Writes docs/RELIABILITY.md.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { hostileCases } from '../test/helpers/crafted-images.ts';
import { mib, ms, publishReport } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, startDev } from './workerd-server.ts';

const MODEL_ID = 'convnext_large_d_320-random';
await seedR2(join('model-shards', MODEL_ID), ['int8'], () => {});
const dev = await startDev(MODEL_ID, 8799);
/** The resident bytes of every workerd process (wrangler dev runs one). */
const workerdRss = (): number =>
  execFileSync('pgrep', ['-x', 'workerd'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .reduce((sum, pid) => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return sum + (m ? Number(m[1]) * 1024 : 0);
    }, 0);
const post = async (body: Uint8Array) => {
  const res = await fetch(`${dev.url}/v1/images/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'image/*', ...COMPUTE },
    body: body as Uint8Array<ArrayBuffer>,
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: await res.text() };
};
try {
  const photo = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));
  const before = (await post(photo)).body;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:hostile\` (full-size random-weight int8 build, one \`wrangler dev\`, bombs of 1 GiB).`,
    '',
    '| case | bytes | status | time | workerd RSS growth |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const c of await hostileCases(1 << 30)) {
    const rss0 = workerdRss();
    const t0 = performance.now();
    const r = await post(c.body);
    const t = performance.now() - t0;
    lines.push(`| ${c.name} | ${c.body.length} | ${r.status} | ${ms(t)} ms | ${mib(workerdRss() - rss0)} MiB |`);
  }
  const after = (await post(photo)).body;
  lines.push(
    '',
    `A valid JPEG before and after all cases: ${before === after ? 'identical embeddings' : 'DIFFERENT embeddings'}; /healthz ${(await fetch(`${dev.url}/healthz`)).status}.`,
  );
  publishReport('hostile', lines.join('\n'), 'docs/RELIABILITY.md');
} finally {
  await dev.stop();
}
