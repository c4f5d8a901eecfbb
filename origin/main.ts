/** `npm run origin`: the GPU origin for fp32 requests, configured from the environment. */
import { parseOriginServerConfig } from '../src/contracts/config.ts';
import { isEdgeClipError } from '../src/contracts/errors.ts';
import { startOrigin } from './start-origin.ts';

let config: ReturnType<typeof parseOriginServerConfig>;
try {
  config = parseOriginServerConfig(process.env, process.argv[2]);
} catch (e) {
  if (!isEdgeClipError(e)) throw e;
  process.stderr.write(
    `${e.message}\nusage: ORIGIN_MODEL_DIR=model-shards/<id> npm run origin   (or: npm run origin -- model-shards/<id>)\n`,
  );
  process.exit(2);
}
const origin = await startOrigin(config);
process.stderr.write(`[origin] listening on ${origin.url}${config.token ? ' (bearer token required)' : ''}\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => origin.close().then(() => process.exit(0)));
