/** Closed → (N consecutive failures) → open for `cooldownMs` → half-open: one probe closes it again or re-opens it. */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.threshold) return 'closed';
    return this.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** Milliseconds until a request may be tried again (0 when it may go now). */
  retryInMs(): number {
    const s = this.state;
    if (s === 'closed') return 0;
    if (s === 'half-open') return this.probing ? 1000 : 0;
    return this.cooldownMs - (this.now() - this.openedAt);
  }

  /** Call before a request; false means fail fast. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'half-open' && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    if (this.failures >= this.threshold) this.openedAt = this.now();
  }
}
