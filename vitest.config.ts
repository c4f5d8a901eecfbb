import { defineConfig } from 'vitest/config';
import { workersProject } from './test/worker/vitest.config.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/worker/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Each file loads onnxruntime; two workers match the 2-core CI machine.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      // Inside workerd, split so that each group gets a workerd process of its own (see test/worker/vitest.config.ts);
      // the groups run one after another.
      ...[
        ['workers-input', ['hostile-input', 'bad-input', 'preprocess']],
        ['workers-loading', ['loading', 'segments', 'origin']],
        ['workers-api', ['embeddings', 'classify', 'cache']],
      ].map(([name, files], i) =>
        workersProject(
          name as string,
          (files as string[]).map((f) => `test/worker/${f}.test.ts`),
          i + 1,
        ),
      ),
    ],
  },
});
