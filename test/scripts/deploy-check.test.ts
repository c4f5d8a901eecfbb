import { describe, expect, it } from 'vitest';
import { type CpuProfile, LIMITS, startupMs, uploadSize, verdict } from '../../scripts/deploy-check.ts';

describe('deploy:check', () => {
  it("reads wrangler's upload size and a profile's CPU time (idle samples left out)", () => {
    expect(uploadSize('…\nTotal Upload: 16859.57 KiB / gzip: 4364.85 KiB\nYour Worker has…')).toEqual({
      bytes: 16859.57 * 1024,
      gzipBytes: 4364.85 * 1024,
    });
    expect(() => uploadSize('no size here')).toThrow(/no upload size/);
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(idle)' } },
        { id: 2, callFrame: { functionName: '__init' } },
      ],
      samples: [1, 2, 2, 1],
      timeDeltas: [50_000, 1_000, 2_500, 40_000],
    };
    expect(startupMs(profile)).toBe(3.5);
  });

  it('fails a Worker over the gzip size or the startup limit, naming each', () => {
    const fits = { bytes: 16e6, gzipBytes: 4e6 };
    expect(verdict('gateway', fits, 40).problems).toEqual([]);
    expect(verdict('gateway', { ...fits, gzipBytes: LIMITS.gzipBytes + 1 }, 40).problems).toEqual([
      expect.stringMatching(/MiB gzip, over 10 MiB/),
    ]);
    expect(verdict('segment', fits, 1500).problems).toEqual(['startup 1500 ms of CPU, over 1000 ms']);
  });
});
