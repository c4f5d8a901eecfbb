/** `edge-clip hub`: whether the Hugging Face Hub (or HF_ENDPOINT) answers for a repo — what `npm start` asks first. */
import { DEFAULT_REPO, hubOptionsFromEnv } from '../../hub/hf-hub.ts';
import { parse, str } from '../args.ts';
import { commandSpec } from '../specs.ts';

export async function hub(argv: string[]) {
  const args = parse(argv, commandSpec('hub'));
  const repo = str(args, 'repo') ?? DEFAULT_REPO;
  let endpoint = '';
  let reachable = false;
  try {
    endpoint = hubOptionsFromEnv().endpoint;
    const res = await fetch(`${endpoint}/api/models/${repo}`, { signal: AbortSignal.timeout(5000) });
    reachable = res.ok;
    await res.body?.cancel();
  } catch {
    // Offline, or the endpoint does not answer: reachable stays false.
  }
  return { repo, endpoint, reachable };
}
