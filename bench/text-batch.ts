/**
 * `npm run bench:text-batch`: what a batch of prompts costs per prompt in onnxruntime-web (Node, one thread), 1 to 32
 * rows of ~9 tokens: how TEXT_BATCH_ROWS was chosen. Needs the full-size build (npm start offline makes it).
 */
import { openLocalModel } from '../src/adapters/node/local-model.ts';

const model = await openLocalModel(process.argv[2] ?? 'model-shards/convnext_large_d_320-random', { runtime: 'web' });
const rows = await model.textRows('int8');
const tok = await model.tokenizer();
const W = ['cat', 'dog', 'red', 'car', 'tree', 'small', 'photo', 'blue', 'house', 'bird', 'running', 'old'];
const prompts = (n: number, off: number) =>
  Array.from(
    { length: n },
    (_, i) => tok.tokenize(`a photo of a ${W[(i + off) % 12]} ${W[(i * 7 + off) % 12]} ${i + off}`).ids,
  );
await rows(prompts(1, 0));
for (const n of [1, 2, 4, 8, 16, 32]) {
  const t: number[] = [];
  for (let r = 0; r < 3; r++) {
    const p = prompts(n, r * 100 + n);
    const t0 = performance.now();
    await rows(p);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(n, 'rows', prompts(1, 0)[0].length, 'tokens', t[1].toFixed(0), 'ms', (t[1] / n).toFixed(1), 'ms/row');
}
await model.close();
