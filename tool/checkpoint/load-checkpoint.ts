/** Opens an OpenCLIP checkpoint (folder or weights file) with its config and checks it against the architecture. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { badCheckpoint, type Checkpoint, FileReader } from './checkpoint.ts';
import { type ModelArch, type OpenClipConfigFile, parseArch, stateDictSpec } from './openclip-config.ts';
import { openSafetensors } from './safetensors.ts';
import { openTorchZip } from './torch-zip.ts';

export const CONFIG_FILE = 'open_clip_config.json';
export const SAFETENSORS_FILE = 'open_clip_model.safetensors';
export const PYTORCH_FILE = 'open_clip_pytorch_model.bin';

export interface LoadedCheckpoint {
  checkpoint: Checkpoint;
  config: OpenClipConfigFile;
  configFile: string;
  arch: ModelArch;
}

/** A folder (safetensors preferred over .bin) or a weights file with open_clip_config.json beside it. */
export function resolveCheckpointFiles(path: string): { weights: string; config: string } {
  if (!existsSync(path)) throw badCheckpoint(path, 'no such file or folder');
  if (statSync(path).isDirectory()) {
    const weights = [SAFETENSORS_FILE, PYTORCH_FILE].map((f) => join(path, f)).find((f) => existsSync(f));
    if (!weights) throw badCheckpoint(path, `folder has neither ${SAFETENSORS_FILE} nor ${PYTORCH_FILE}`);
    return { weights, config: join(path, CONFIG_FILE) };
  }
  return { weights: path, config: join(dirname(path), CONFIG_FILE) };
}

export function readConfigFile(file: string): OpenClipConfigFile {
  if (!existsSync(file)) throw badCheckpoint(file, 'missing (the build reads the architecture from it)');
  try {
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as OpenClipConfigFile;
    if (typeof cfg.model_cfg !== 'object') throw new Error('no model_cfg');
    return cfg;
  } catch (e) {
    throw badCheckpoint(file, `not a valid open_clip_config.json (${(e as Error).message})`, e);
  }
}

export function openWeights(file: string): Checkpoint {
  const name = basename(file);
  const probe = new FileReader(file);
  const isZip = probe.size >= 4 && probe.read(0, 4).readUInt32LE(0) === 0x04034b50;
  probe.close();
  // torch.save archives start with a ZIP local header; anything else is tried as safetensors.
  if (isZip) return openTorchZip(file);
  if (name.endsWith('.bin') || name.endsWith('.pt') || name.endsWith('.pth')) {
    throw badCheckpoint(file, 'not a torch.save ZIP archive (legacy non-ZIP pickles are not supported)');
  }
  return openSafetensors(file);
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const files = resolveCheckpointFiles(path);
  const config = readConfigFile(files.config);
  const arch = parseArch(config, files.config);
  const checkpoint = openWeights(files.weights);
  try {
    const spec = stateDictSpec(arch);
    const expected = new Map(spec);
    for (const name of checkpoint.entries.keys()) {
      if (!expected.has(name)) throw badCheckpoint(files.weights, `unknown tensor name ${name} for this architecture`);
    }
    for (const [name, shape] of spec) {
      const entry = checkpoint.entries.get(name);
      if (!entry) throw badCheckpoint(files.weights, `tensor ${name} is missing`);
      if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
        throw badCheckpoint(
          files.weights,
          `shape mismatch for ${name}: [${entry.shape}] in the file, [${shape}] from the config`,
        );
      }
    }
  } catch (e) {
    checkpoint.close();
    throw e;
  }
  return { checkpoint, config, configFile: files.config, arch };
}
