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
    let lastLine = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      const lines = d
        .toString()
        .split(/[\r\n]/)
        .filter((l) => l.trim() !== '');
      if (lines.length > 0) lastLine = lines[lines.length - 1];
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      // The tool's last line is "edge-clip <command>: <what went wrong>".
      else reject(new Error(lastLine.replace(/^edge-clip [\w-]+: /, '') || `edge-clip ${args[0]} exited with ${code}`));
    });
  });
}
