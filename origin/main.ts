/** `npm run origin`: the GPU origin for fp32 requests, configured from the environment. */
import { startOrigin } from './start-origin.ts';

const env = process.env;
const modelDir = env.ORIGIN_MODEL_DIR ?? process.argv[2];
if (!modelDir) {
  process.stderr.write(
    'usage: ORIGIN_MODEL_DIR=model-shards/<id> npm run origin   (or: npm run origin -- model-shards/<id>)\n',
  );
  process.exit(2);
}
const device = (env.ORIGIN_DEVICE ?? 'auto') as 'auto' | 'cpu' | 'cuda';
const origin = await startOrigin({
  modelDir,
  host: env.ORIGIN_HOST ?? '127.0.0.1',
  port: Number(env.ORIGIN_PORT ?? 8790),
  token: env.ORIGIN_TOKEN || undefined,
  maxBatch: Number(env.ORIGIN_MAX_BATCH ?? 16),
  windowMs: Number(env.ORIGIN_BATCH_WINDOW_MS ?? 4),
  device,
  modelPrefix: env.ORIGIN_MODEL_PREFIX ?? 'edgeclip',
});
process.stderr.write(`[origin] listening on ${origin.url}${env.ORIGIN_TOKEN ? ' (bearer token required)' : ''}\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => origin.close().then(() => process.exit(0)));
