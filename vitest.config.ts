import { defineConfig } from 'vitest/config';
import { workerdProjects } from './test/worker/vitest.config.ts';

export default defineConfig({
  test: {
    // The app's one-JSON-line-per-request logs (tested in test/worker/request-log.test.ts) would bury the output.
    onConsoleLog: (log) => !log.startsWith('{"level":'),
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
      ...workerdProjects,
    ],
  },
});
