/**
 * The build tool as the scripts use it: its command line, in a process of its own (nothing outside tool/ imports
 * tool/). Its progress goes straight to our stderr; a failure rejects with the tool's own one-line message.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/edge-clip.js', import.meta.url));

/** Runs `edge-clip <args>` and resolves with what it printed on stdout (its JSON result). */
export function runEdgeClip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    // The end of stderr, enough to hold its last line whole however the chunks fall.
    let tail = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.on('data', (d: string) => {
      process.stderr.write(d);
      tail = (tail + d).slice(-4096);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) {
        resolve(stdout);
        return;
      }
      // The tool's last line is "edge-clip <command>: <what went wrong>".
      const lastLine =
        tail
          .split(/[\r\n]/)
          .filter((l) => l.trim() !== '')
          .at(-1) ?? '';
      reject(new Error(lastLine.replace(/^edge-clip [\w-]+: /, '') || `edge-clip ${args[0]} exited with ${code}`));
    });
  });
}
