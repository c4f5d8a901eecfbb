/** Fetches an OpenCLIP checkpoint from the Hugging Face Hub (or any server with the same URL layout) into the cache. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isEdgeClipError } from '../../src/contracts/errors.ts';
import { CONFIG_FILE, PYTORCH_FILE, SAFETENSORS_FILE } from '../checkpoint/load-checkpoint.ts';
import { download } from './download.ts';

export const DEFAULT_REPO = 'laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft';

export interface HubOptions {
  endpoint: string;
  cacheDir: string;
  token?: string;
}

/** Endpoint, cache and token from the environment (HF_ENDPOINT, EDGE_CLIP_CACHE, HF_TOKEN), as huggingface_hub does. */
export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubOptions {
  return {
    endpoint: (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, ''),
    cacheDir: env.EDGE_CLIP_CACHE ?? join(homedir(), '.cache', 'edge-clip'),
    token: env.HF_TOKEN,
  };
}

/** "hf:owner/name[@revision]" → local folder with open_clip_config.json and the weights (safetensors preferred). */
export async function fetchHubCheckpoint(spec: string, opts: HubOptions): Promise<string> {
  const [repo, revision = 'main'] = spec.replace(/^hf:/, '').split('@');
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`not a Hugging Face repo id: ${repo}`);
  // The revision becomes a folder name: a branch, tag or commit, never a path.
  if (!/^[\w][\w.-]*$/.test(revision) || revision.includes('..'))
    throw new Error(`not a Hugging Face revision: ${JSON.stringify(revision)} (a branch, tag or commit hash)`);
  const dir = join(opts.cacheDir, 'hub', repo.replace('/', '--'), revision);
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const url = (file: string) => `${opts.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
  await download(url(CONFIG_FILE), join(dir, CONFIG_FILE), { headers, label: CONFIG_FILE });
  if (existsSync(join(dir, SAFETENSORS_FILE)) || existsSync(join(dir, PYTORCH_FILE))) return dir;
  try {
    await download(url(SAFETENSORS_FILE), join(dir, SAFETENSORS_FILE), { headers, label: SAFETENSORS_FILE });
  } catch (e) {
    if (!isEdgeClipError(e) || e.code !== 'NOT_FOUND') throw e;
    // The LAION repos ship only the PyTorch pickle.
    await download(url(PYTORCH_FILE), join(dir, PYTORCH_FILE), { headers, label: PYTORCH_FILE });
  }
  return dir;
}
