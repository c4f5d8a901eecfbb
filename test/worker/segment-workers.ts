/** The segment Workers the workerd tests run beside the test Worker (the `segments` project in test/worker/vitest.config.ts). */
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The segment Worker script, bundled by wrangler in test/worker/segments-setup.ts (what `wrangler deploy` uploads). */
export const SEGMENT_BUNDLE = resolve(ROOT, '.cache/test/segment-worker/index.js');

/**
 * The segments of the test build `tiny-segmented` (segments-setup.ts; segments.test.ts checks the count): each runs as a
 * Worker of its own, reached through a real service binding, as in production.
 */
export const TEST_SEGMENTS = { image: 3, text: 3 } as const;

export const segmentWorkers = Object.entries(TEST_SEGMENTS).flatMap(([tower, count]) =>
  Array.from({ length: count }, (_, index) => ({
    name: `edge-clip-seg-${tower}-${index}`,
    binding: `SEG_${tower.toUpperCase()}_${index}`,
    tower,
    index,
  })),
);
