/** Central-directory reader for the uncompressed ZIP archives torch.save writes (ZIP64 aware). */
import { badCheckpoint, type FileReader } from './checkpoint.ts';

export interface ZipEntry {
  name: string;
  /** Absolute offset of the entry's data. */
  dataOffset: number;
  size: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function readZipIndex(reader: FileReader): Map<string, ZipEntry> {
  const file = reader.file;
  const tailLen = Math.min(reader.size, 65557);
  const tail = reader.read(reader.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw badCheckpoint(file, 'not a ZIP archive or truncated (no end-of-central-directory record)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff || cdSize === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== ZIP64_LOCATOR) throw badCheckpoint(file, 'ZIP64 locator missing');
    const recOffset = Number(tail.readBigUInt64LE(loc + 8));
    const rec = reader.read(recOffset, 56);
    if (rec.readUInt32LE(0) !== ZIP64_EOCD) throw badCheckpoint(file, 'ZIP64 end record corrupt');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  const cd = reader.read(cdOffset, cdSize);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL)
      throw badCheckpoint(file, 'ZIP central directory corrupt');
    const method = cd.readUInt16LE(p + 10);
    let size = cd.readUInt32LE(p + 24);
    let compressed = cd.readUInt32LE(p + 20);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // ZIP64 extended information: only the fields whose 32-bit slot is saturated are present, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cd.readUInt16LE(e);
      const len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (compressed === 0xffffffff) {
          compressed = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(cd.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    if (method !== 0 || compressed !== size)
      throw badCheckpoint(
        file,
        `ZIP entry ${name} is compressed (method ${method}); only stored entries are supported`,
      );
    const local = reader.read(localOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) throw badCheckpoint(file, `ZIP local header of ${name} corrupt`);
    const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + size > reader.size) {
      throw badCheckpoint(
        file,
        `truncated: ZIP entry ${name} ends at byte ${dataOffset + size} but the file has ${reader.size}`,
      );
    }
    entries.set(name, { name, dataOffset, size });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
