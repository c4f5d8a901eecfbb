/**
 * Writes ONNX external data straight into shard files while the graph is built. Tensors are grouped into external-data
 * files of at most `shardSize` bytes (a tensor never straddles two files), and each file is stored as one or more shard
 * objects of at most `shardSize` bytes, so that only tensors larger than a shard ever span shards.
 */
import { createHash, type Hash } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ExternalDataFile, ShardRef } from '../../src/contracts/manifest.ts';

const ALIGN = 64;

interface OpenShard {
  ref: ShardRef;
  fd: number;
  hash: Hash;
}
interface OpenFile {
  location: string;
  bytes: number;
  shards: OpenShard[];
}

export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

export class ExternalDataWriter {
  private files: OpenFile[] = [];
  private readonly pad = new Uint8Array(ALIGN);

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly shardSize: number,
  ) {}

  get totalBytes(): number {
    return this.files.reduce((a, f) => a + f.bytes, 0);
  }

  write(data: Uint8Array): ExternalRef {
    let file = this.files[this.files.length - 1];
    const aligned = file ? Math.ceil(file.bytes / ALIGN) * ALIGN : 0;
    if (!file || (file.bytes > 0 && aligned + data.length > this.shardSize)) {
      file = { location: `${this.prefix}.d${this.files.length}.bin`, bytes: 0, shards: [] };
      this.files.push(file);
    } else if (aligned > file.bytes) {
      this.append(file, this.pad.subarray(0, aligned - file.bytes));
    }
    const offset = file.bytes;
    this.append(file, data);
    return { location: file.location, offset, length: data.length };
  }

  private append(file: OpenFile, data: Uint8Array): void {
    let p = 0;
    while (p < data.length) {
      let shard = file.shards[file.shards.length - 1];
      if (!shard || shard.ref.bytes === this.shardSize) {
        const name = `${file.location}.${file.shards.length}`;
        shard = {
          ref: { file: name, offset: file.bytes, bytes: 0, sha256: '' },
          fd: openSync(join(this.dir, name), 'w'),
          hash: createHash('sha256'),
        };
        file.shards.push(shard);
      }
      const n = Math.min(data.length - p, this.shardSize - shard.ref.bytes);
      const piece = data.subarray(p, p + n);
      writeSync(shard.fd, piece);
      shard.hash.update(piece);
      shard.ref.bytes += n;
      file.bytes += n;
      p += n;
    }
  }

  /** Closes every shard and returns the manifest entries. */
  finish(): ExternalDataFile[] {
    return this.files.map((f) => ({
      location: f.location,
      bytes: f.bytes,
      shards: f.shards.map((s) => {
        closeSync(s.fd);
        return { ...s.ref, sha256: s.hash.digest('hex') };
      }),
    }));
  }

  /** Closes file handles after a failure (the caller removes the temp folder). */
  abort(): void {
    for (const f of this.files) for (const s of f.shards) closeSync(s.fd);
    this.files = [];
  }
}

/**
 * Puts each external-data file back together under its own name (its `location`) in `dir`, so that onnxruntime-node
 * can load a graph written there from its path and read the weights itself, not from copies held in JS.
 */
export function joinShards(dir: string, files: ExternalDataFile[]): void {
  for (const file of files) {
    const target = join(dir, file.location);
    if (file.shards.length === 1) {
      renameSync(join(dir, file.shards[0].file), target);
      continue;
    }
    rmSync(target, { force: true });
    for (const shard of file.shards) {
      appendFileSync(target, readFileSync(join(dir, shard.file)));
      rmSync(join(dir, shard.file));
    }
  }
}
