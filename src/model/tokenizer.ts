/** OpenCLIP's CLIP BPE tokenizer: clean → pre-tokenize → byte-level BPE → [SOT] ids [EOT], truncated to the context. */
import { decodeHTML } from 'entities';
import { CLIP_TOKENS } from '../contracts/tensors.ts';

export interface TokenizerOptions {
  contextLength: number;
  sotId: number;
  eotId: number;
}

export interface Tokenized {
  /** [SOT, ..., EOT] without padding (length ≤ contextLength). */
  ids: number[];
  /** True when the text did not fit and was cut (OpenCLIP truncates the same way). */
  truncated: boolean;
}

// Python str.split() whitespace (what OpenCLIP's whitespace_clean collapses): note \x1c-\x1f and \x85, but not \ufeff.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are whitespace to Python.
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;
const PRETOKENIZE =
  /<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/** GPT-2's reversible byte → printable character map, in its vocabulary order (printable bytes first). */
function bytesToUnicode(): { table: string[]; ordered: string[] } {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  const ordered = bs.map((b, i) => {
    table[b] = String.fromCodePoint(cs[i]);
    return table[b];
  });
  return { table, ordered };
}

/**
 * Bump when tokenizing changes what ids a text yields: cached text embeddings (the isolate LRU, the Cache API, KV
 * prompt rows) are keyed with it, and the build hash covers the vocabulary, not this code.
 */
export const TOKENIZER_VERSION = 1;

export class ClipTokenizer {
  private readonly byteChars: string[];
  private readonly encoder = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly utf8 = new TextEncoder();

  /** `mergesText` is the unzipped bpe_simple_vocab_16e6.txt. */
  constructor(
    mergesText: string,
    readonly options: TokenizerOptions = CLIP_TOKENS,
  ) {
    const { table, ordered } = bytesToUnicode();
    this.byteChars = table;
    const lines = mergesText.split('\n');
    const merges = lines.slice(1, 49152 - 256 - 2 + 1);
    const vocab = [...ordered, ...ordered.map((c) => `${c}</w>`)];
    merges.forEach((m, i) => {
      this.ranks.set(m, i);
      vocab.push(m.replace(' ', ''));
    });
    vocab.push('<start_of_text>', '<end_of_text>');
    vocab.forEach((tok, i) => {
      this.encoder.set(tok, i);
    });
    this.cache.set('<start_of_text>', [options.sotId]);
    this.cache.set('<end_of_text>', [options.eotId]);
  }

  static async fromGzip(gz: Uint8Array, options?: TokenizerOptions): Promise<ClipTokenizer> {
    const stream = new Blob([gz as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new ClipTokenizer(await new Response(stream).text(), options);
  }

  /** Text cleaning as OpenCLIP does it, except ftfy.fix_text (which changes mojibake and curly quotes only). */
  static clean(text: string): string {
    return decodeHTML(decodeHTML(text)).replace(PY_WHITESPACE, ' ').trim().toLowerCase();
  }

  private bpe(token: string): number[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = [...token];
    let word = chars.map((c, i) => (i === chars.length - 1 ? `${c}</w>` : c));
    while (word.length > 1) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = word[best];
      const b = word[best + 1];
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(word[i]);
      }
      word = next;
    }
    const ids = word.map((w) => this.encoder.get(w)!);
    if (this.cache.size < 50_000) this.cache.set(token, ids);
    return ids;
  }

  /** Token ids of the text body, without SOT/EOT; stops once it has `limit` of them (the rest would be cut anyway). */
  encode(text: string, limit = Number.POSITIVE_INFINITY): number[] {
    const ids: number[] = [];
    for (const m of ClipTokenizer.clean(text).matchAll(PRETOKENIZE)) {
      const piece = m[0];
      let word = piece;
      if (piece !== '<start_of_text>' && piece !== '<end_of_text>') {
        word = '';
        for (const byte of this.utf8.encode(piece)) word += this.byteChars[byte];
      }
      for (const id of this.bpe(word)) {
        if (ids.length >= limit) return ids;
        ids.push(id);
      }
    }
    return ids;
  }

  tokenize(text: string): Tokenized {
    const { contextLength, sotId, eotId } = this.options;
    // One body token more than fits is enough to know that the text is truncated.
    const ids = [sotId, ...this.encode(text, contextLength - 1), eotId];
    if (ids.length <= contextLength) return { ids, truncated: false };
    const cut = ids.slice(0, contextLength);
    cut[contextLength - 1] = eotId;
    return { ids: cut, truncated: true };
  }

  /** Padded to the context length with 0, as OpenCLIP's tokenize() returns. */
  tokenizePadded(text: string): number[] {
    const { ids } = this.tokenize(text);
    return [...ids, ...new Array<number>(this.options.contextLength - ids.length).fill(0)];
  }
}
