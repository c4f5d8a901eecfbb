import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { segmentConfigs } from '../../scripts/segment-configs.ts';
import { TINY_ST } from '../helpers/paths.ts';

describe('segment Worker configs', () => {
  it('give segment Workers no public URL: neither workers.dev nor preview URLs', () => {
    const { segments } = segmentConfigs(TINY_ST);
    expect(segments.length).toBeGreaterThan(0);
    for (const file of segments) {
      const toml = readFileSync(file, 'utf8');
      expect(toml).toMatch(/^workers_dev = false$/m);
      expect(toml).toMatch(/^preview_urls = false$/m);
    }
  });
});
