/**
 * Adds V8 flags to the binary Cap'n Proto config that miniflare pipes into workerd. Miniflare sets no `v8Flags`
 * and has no option for them, so the workerd tests run `workerd.sh`, which rewrites the config on its way in.
 *
 * The rewrite leaves every existing byte in place: the flags go into a new segment, reached from the root struct's
 * `v8Flags` slot (pointer 2 of `Config`) through a far pointer.
 */

const WORD = 8;
/** Pointer index of `v8Flags` in workerd's `Config` struct (workerd.capnp: `v8Flags @2 :List(Text)`). */
const V8_FLAGS_POINTER = 2;

export function addV8Flags(message: Uint8Array, flags: readonly string[]): Uint8Array {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const segmentCount = view.getUint32(0, true) + 1;
  const headerBytes = align(4 + 4 * segmentCount);
  const segmentWords = Array.from({ length: segmentCount }, (_, i) => view.getUint32(4 + 4 * i, true));
  const bodyBytes = segmentWords.reduce((sum, words) => sum + words * WORD, 0);
  if (headerBytes + bodyBytes !== message.byteLength) throw new Error('not a single Cap’n Proto message');

  // The root pointer is word 0 of segment 0; miniflare's encoder always puts the root struct in that segment.
  const rootLow = view.getUint32(headerBytes, true);
  if ((rootLow & 3) !== 0) throw new Error('the config root is not a near struct pointer');
  const structWord = 1 + (rootLow >> 2);
  const dataWords = view.getUint16(headerBytes + 4, true);
  const pointerWords = view.getUint16(headerBytes + 6, true);
  if (pointerWords <= V8_FLAGS_POINTER) throw new Error('the config root has no v8Flags slot');
  const slot = headerBytes + (structWord + dataWords + V8_FLAGS_POINTER) * WORD;
  if (view.getUint32(slot, true) !== 0 || view.getUint32(slot + 4, true) !== 0) {
    throw new Error('the config already sets v8Flags');
  }

  const segment = flagsSegment(flags);
  const newHeaderBytes = align(4 + 4 * (segmentCount + 1));
  const out = new Uint8Array(newHeaderBytes + bodyBytes + segment.byteLength);
  const outView = new DataView(out.buffer);
  outView.setUint32(0, segmentCount, true);
  for (const [i, words] of segmentWords.entries()) outView.setUint32(4 + 4 * i, words, true);
  outView.setUint32(4 + 4 * segmentCount, segment.byteLength / WORD, true);
  out.set(message.subarray(headerBytes), newHeaderBytes);
  out.set(segment, newHeaderBytes + bodyBytes);
  // Far pointer, single landing pad at word 0 of the new segment.
  const outSlot = slot - headerBytes + newHeaderBytes;
  outView.setUint32(outSlot, 2, true);
  outView.setUint32(outSlot + 4, segmentCount, true);
  return out;
}

/** Word 0: landing pad (a list-of-pointers pointer); then one text pointer per flag; then the NUL-terminated texts. */
function flagsSegment(flags: readonly string[]): Uint8Array {
  const texts = flags.map((flag) => new TextEncoder().encode(`${flag}\0`));
  const textWords = texts.map((text) => align(text.byteLength) / WORD);
  const segment = new Uint8Array((1 + flags.length + textWords.reduce((a, b) => a + b, 0)) * WORD);
  const view = new DataView(segment.buffer);
  const POINTER_ELEMENTS = 6;
  const BYTE_ELEMENTS = 2;
  view.setUint32(0, 1, true);
  view.setUint32(4, POINTER_ELEMENTS | (flags.length << 3), true);
  let textWord = 1 + flags.length;
  for (const [i, text] of texts.entries()) {
    const pointerWord = 1 + i;
    view.setUint32(pointerWord * WORD, 1 | ((textWord - pointerWord - 1) << 2), true);
    view.setUint32(pointerWord * WORD + 4, BYTE_ELEMENTS | (text.byteLength << 3), true);
    segment.set(text, textWord * WORD);
    textWord += textWords[i]!;
  }
  return segment;
}

function align(bytes: number): number {
  return Math.ceil(bytes / WORD) * WORD;
}
