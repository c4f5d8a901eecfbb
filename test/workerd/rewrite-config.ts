/** stdin → stdout: the workerd config that miniflare sends, with the V8 flags given as arguments (see workerd.sh). */
import { addV8Flags } from './v8-flags.ts';

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
process.stdout.write(addV8Flags(Buffer.concat(chunks), process.argv.slice(2)));
