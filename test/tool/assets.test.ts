import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../src/model/tokenizer.ts';
import { labelsetFile, SHIPPED_LABELSETS, SHIPPED_VOCAB, SHIPPED_VOCAB_SHA256 } from '../../tool/assets.ts';
import { TOKENIZER_CASES } from '../helpers/paths.ts';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('shipped assets', () => {
  it('carries the CLIP vocabulary byte for byte, and it tokenizes as OpenCLIP does', async () => {
    expect(sha256(SHIPPED_VOCAB)).toBe(SHIPPED_VOCAB_SHA256);
    const tokenizer = await ClipTokenizer.fromGzip(readFileSync(SHIPPED_VOCAB));
    const { cases } = JSON.parse(readFileSync(TOKENIZER_CASES, 'utf8')) as { cases: { text: string; ids: number[] }[] };
    for (const c of cases.slice(0, 40)) expect(tokenizer.tokenizePadded(c.text), c.text).toEqual(c.ids);
  });

  it('carries the ImageNet-1k label set: 1,000 class names, 80 OpenAI templates and the 7 simple ones', () => {
    const file = SHIPPED_LABELSETS.imagenet1k;
    expect(sha256(file)).toBe('ed67f58045b15014a868fe5c8edb1dc8b05dd1b1dc3e4e5c75ef110b78ab321f');
    const set = JSON.parse(readFileSync(file, 'utf8'));
    expect(set.classnames).toHaveLength(1000);
    expect(set.classnames.slice(0, 2)).toEqual(['tench', 'goldfish']);
    expect(set.templates).toHaveLength(80);
    expect(set.simple_templates).toHaveLength(7);
    for (const t of [...set.templates, ...set.simple_templates]) expect(t).toContain('{c}');
  });

  it('resolves a label-set argument: an existing file first, then a shipped name', () => {
    expect(labelsetFile('imagenet1k')).toBe(SHIPPED_LABELSETS.imagenet1k);
    expect(labelsetFile(SHIPPED_VOCAB)).toBe(SHIPPED_VOCAB);
    expect(labelsetFile('no-such-set')).toBeUndefined();
    expect(labelsetFile('toString')).toBeUndefined();
  });
});
