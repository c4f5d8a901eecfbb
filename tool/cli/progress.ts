/** A one-line progress bar on stderr for long downloads and builds (plain lines when stderr is not a TTY). */

export class Progress {
  private last = 0;
  private readonly start = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit: 'bytes' | 'items' = 'bytes',
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** Work already done before this run (resumed jobs): not counted in the rate. */
    private readonly resumedFrom = 0,
  ) {}

  update(done: number): void {
    const now = Date.now();
    const interval = this.stream.isTTY ? 200 : 5000;
    if (now - this.last < interval && done < this.total) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = (done - this.resumedFrom) / Math.max(secs, 1e-3);
    const pct = this.total > 0 ? (100 * done) / this.total : 0;
    const eta = rate > 0 && this.total > 0 ? (this.total - done) / rate : 0;
    const width = 24;
    const filled = Math.round((width * pct) / 100);
    const amount =
      this.unit === 'bytes'
        ? `${(done / 2 ** 20).toFixed(1)}/${(this.total / 2 ** 20).toFixed(1)} MiB ${(rate / 2 ** 20).toFixed(1)} MiB/s`
        : `${done}/${this.total} ${rate.toFixed(1)}/s`;
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(1)}% ${amount} ETA ${eta.toFixed(0)}s`;
    this.stream.write(this.stream.isTTY ? `\r${line}` : `${line}\n`);
    if (done >= this.total && this.stream.isTTY) this.stream.write('\n');
  }
}
