/** Streaming sha256 of files (checkpoints are too large to hash from one buffer). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 8 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const sha256Bytes = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
