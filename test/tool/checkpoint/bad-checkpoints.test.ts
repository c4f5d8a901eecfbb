import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.ts';
import { TEST_CACHE, TINY, VOCAB } from '../../helpers/paths.ts';

const ST = 'open_clip_model.safetensors';
const PT = 'open_clip_pytorch_model.bin';
const CONFIG = 'open_clip_config.json';

/** A checkpoint folder whose weights file is `bytes` and whose config is the fixture's (or `config`). */
function fixtureDir(name: string, file: string, bytes: Uint8Array, config?: unknown): string {
  const dir = join(TEST_CACHE, 'bad', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), bytes);
  if (config === undefined) copyFileSync(join(TINY, CONFIG), join(dir, CONFIG));
  else writeFileSync(join(dir, CONFIG), JSON.stringify(config));
  return dir;
}

/** safetensors with an extra tensor appended to the header and data. */
function withExtraTensor(): Uint8Array {
  const src = readFileSync(join(TINY, ST));
  const n = Number(src.readBigUInt64LE(0));
  const header = JSON.parse(src.subarray(8, 8 + n).toString('utf8'));
  const dataLen = src.length - 8 - n;
  header['visual.trunk.bogus'] = { dtype: 'F32', shape: [1], data_offsets: [dataLen, dataLen + 4] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), src.subarray(8 + n), Buffer.alloc(4)]);
}

const tinyConfig = () => JSON.parse(readFileSync(join(TINY, CONFIG), 'utf8'));

describe('edge-clip build rejects bad checkpoints with one clear line and writes nothing', () => {
  beforeAll(() => {
    rmSync(join(TEST_CACHE, 'bad-out'), { recursive: true, force: true });
    mkdirSync(join(TEST_CACHE, 'bad-out'), { recursive: true });
  });
  const st = readFileSync(join(TINY, ST));
  const pt = readFileSync(join(TINY, PT));
  const wider = tinyConfig();
  wider.model_cfg.vision_cfg.timm_model_kwargs.dims = [16, 32, 64, 256];
  const cases: [string, string, Uint8Array, unknown, RegExp][] = [
    ['truncated safetensors', ST, st.subarray(0, st.length - 1000), undefined, /truncated/],
    [
      'safetensors with a broken header',
      ST,
      Buffer.concat([st.subarray(0, 8), Buffer.from('{not json'), st.subarray(17)]),
      undefined,
      /header is not valid JSON/,
    ],
    ['truncated pytorch zip', PT, pt.subarray(0, pt.length - 5000), undefined, /(truncated|not a ZIP)/],
    [
      'pytorch zip with a cut-off tensor',
      PT,
      pt.subarray(0, Math.floor(pt.length / 2)),
      undefined,
      /(truncated|not a ZIP)/,
    ],
    ['random bytes', PT, new Uint8Array(4096).map((_, i) => (i * 7919) % 251), undefined, /not a torch.save ZIP/],
    ['an unknown tensor name', ST, withExtraTensor(), undefined, /unknown tensor name visual\.trunk\.bogus/],
    ['a shape that disagrees with the config', ST, st, wider, /shape mismatch for visual\.trunk\.stages\.3/],
    ['a config that is not JSON', ST, st, '{{', /open_clip_config\.json: not a valid/],
  ];
  it.each(cases)('%s', async (name, file, bytes, config, message) => {
    const dir = fixtureDir(name.replace(/\W+/g, '-'), file, bytes, config);
    const out = join(TEST_CACHE, 'bad-out', name.replace(/\W+/g, '-'));
    const res = await runCli(['build', '--checkpoint', dir, '--out', out, '--vocab', VOCAB]);
    expect(res.code).not.toBe(0);
    const lines = res.stderr.trim().split('\n');
    const last = lines[lines.length - 1];
    expect(last).toMatch(message);
    expect(last).toContain(dir);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(TEST_CACHE, 'bad-out')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('names a missing checkpoint folder', async () => {
    const res = await runCli([
      'build',
      '--checkpoint',
      '/nonexistent/ckpt',
      '--out',
      join(TEST_CACHE, 'nope'),
      '--vocab',
      VOCAB,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\/nonexistent\/ckpt: no such file or folder/);
  });
});
