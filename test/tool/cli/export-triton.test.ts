import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/adapters/node/local-model.ts';
import { originModelName } from '../../../src/adapters/origin/origin-client.ts';
import { IMAGE_INPUT, IMAGE_OUTPUT, TEXT_INPUT, TEXT_OUTPUT } from '../../../src/contracts/tensors.ts';
import { runCli } from '../../helpers/cli.ts';
import { expected, maxAbsDiff, tinyImages } from '../../helpers/fixtures.ts';
import { TEST_CACHE, TINY_ST } from '../../helpers/paths.ts';
import { type PbMessage, parsePbtxt } from '../../helpers/pbtxt.ts';

describe('edge-clip export-triton', () => {
  it('writes a model repository whose configs parse, whose names match the worker client, and whose models run', async () => {
    const out = join(TEST_CACHE, 'triton');
    const res = await runCli(['export-triton', '--model', TINY_ST, '--out', out]);
    expect(res.code).toBe(0);
    const cases = [
      ['image', IMAGE_INPUT, 'TYPE_FP32', [3, 64, 64], IMAGE_OUTPUT],
      ['text', TEXT_INPUT, 'TYPE_INT64', [-1], TEXT_OUTPUT],
    ] as const;
    for (const [tower, input, type, dims, output] of cases) {
      const name = originModelName('edgeclip', tower);
      const cfg = parsePbtxt(readFileSync(join(out, name, 'config.pbtxt'), 'utf8'));
      expect(cfg.name).toEqual([name]);
      expect(cfg.platform).toEqual(['onnxruntime_onnx']);
      expect(cfg.max_batch_size).toEqual([16]);
      const inp = (cfg.input as PbMessage[])[0];
      expect(inp).toMatchObject({ name: [input], data_type: [type], dims: [...dims] });
      expect((cfg.output as PbMessage[])[0]).toMatchObject({ name: [output], data_type: ['TYPE_FP32'], dims: [24] });
      expect((cfg.dynamic_batching as PbMessage[])[0].max_queue_delay_microseconds).toEqual([2000]);
      expect(existsSync(join(out, name, '1', 'model.onnx'))).toBe(true);
    }
    // The exported files are what Triton's onnxruntime backend loads: model.onnx with external data beside it.
    const session = await ort.InferenceSession.create(join(out, 'edgeclip_image', '1', 'model.onnx'));
    const result = await session.run({ [IMAGE_INPUT]: new ort.Tensor('float32', tinyImages(), [3, 3, 64, 64]) });
    expect(maxAbsDiff(result[IMAGE_OUTPUT].data as Float32Array, expected.image_features.flat())).toBeLessThan(1e-4);
  });

  it('exports only the files the manifest lists: a shard changed on disk stops it, naming the file', async () => {
    const copy = join(TEST_CACHE, 'models/tiny-st-tampered');
    rmSync(copy, { recursive: true, force: true });
    cpSync(TINY_ST, copy, { recursive: true });
    const shard = readManifest(copy).towers.text.fp32!.segments[0].externalData[0].shards[0];
    const bytes = readFileSync(join(copy, shard.file));
    bytes[bytes.length >> 1] ^= 1;
    writeFileSync(join(copy, shard.file), bytes);
    const out = join(TEST_CACHE, 'triton-tampered');
    const res = await runCli(['export-triton', '--model', copy, '--out', out]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`${shard.file} is not the file the manifest lists`);
    expect(existsSync(out)).toBe(false);
  });
});
