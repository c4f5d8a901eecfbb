import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../src/model/tokenizer.ts';
import { TOKENIZER_CASES, VOCAB } from '../helpers/paths.ts';

const cases = JSON.parse(readFileSync(TOKENIZER_CASES, 'utf8')) as {
  cases: { text: string; ids: number[] }[];
};
const tokenizer = await ClipTokenizer.fromGzip(readFileSync(VOCAB));

describe('ClipTokenizer', () => {
  it('produces OpenCLIP ids for all conformance cases', () => {
    const mismatches = cases.cases.filter(
      (c) => JSON.stringify(tokenizer.tokenizePadded(c.text)) !== JSON.stringify(c.ids),
    );
    expect(mismatches.map((c) => c.text)).toEqual([]);
    expect(cases.cases.length).toBe(250);
  });

  it('truncates long texts to the context length with EOT last and says so', () => {
    const long = tokenizer.tokenize('a photo of a cat '.repeat(30));
    expect(long.truncated).toBe(true);
    expect(long.ids.length).toBe(77);
    expect(long.ids[76]).toBe(49407);
    expect(tokenizer.tokenize('a cat').truncated).toBe(false);
  });

  it('maps the literal special-token strings to their ids', () => {
    expect(tokenizer.tokenize('<end_of_text>').ids).toEqual([49406, 49407, 49407]);
  });
});
