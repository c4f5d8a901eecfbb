/** The GPU origin's circuit breaker on an injected clock: no test waits for real time. */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../src/adapters/origin/circuit-breaker.ts';

function breakerAt(threshold = 2, cooldownMs = 1000) {
  const clock = { now: 0 };
  return { clock, breaker: new CircuitBreaker(threshold, cooldownMs, () => clock.now) };
}

describe('CircuitBreaker', () => {
  it('opens after `threshold` consecutive failures and fails fast for the cooldown', () => {
    const { clock, breaker } = breakerAt();
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('closed');
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    clock.now = 600;
    expect(breaker.retryInMs()).toBe(400);
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('a success in between resets the count', () => {
    const { breaker } = breakerAt();
    breaker.failure();
    breaker.success();
    breaker.failure();
    expect(breaker.state).toBe('closed');
  });

  it('lets exactly one probe through when half-open; its success closes the circuit', () => {
    const { clock, breaker } = breakerAt();
    breaker.failure();
    breaker.failure();
    clock.now = 1000;
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.retryInMs()).toBeGreaterThan(0);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('re-opens for a whole cooldown when the probe fails', () => {
    const { clock, breaker } = breakerAt();
    breaker.failure();
    breaker.failure();
    clock.now = 1500;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryInMs()).toBe(1000);
    clock.now = 2499;
    expect(breaker.tryAcquire()).toBe(false);
    clock.now = 2500;
    expect(breaker.state).toBe('half-open');
  });
});
