import { describe, expect, it } from 'vitest';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import { Scheduler, type WorkKind } from '../../src/model/scheduler.ts';
import { SharedWork } from '../../src/model/shared-work.ts';
import { deferred, FairLock } from '../../src/model/waiting.ts';

/** A step that holds "the thread" for `ms` and records that nothing else ran meanwhile. */
function recorder() {
  const log: string[] = [];
  let inside = 0;
  let overlaps = 0;
  const step = (name: string, ms: number) => async () => {
    if (inside++ > 0) overlaps++;
    log.push(name);
    await new Promise((r) => setTimeout(r, ms));
    inside--;
    return name;
  };
  return { log, step, overlaps: () => overlaps };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 0));
}

const options = (share = 0) => ({ maxWaitMs: { text: 1000, image: 5000 }, minImageShare: share });

describe('the isolate scheduler', () => {
  it('runs one step at a time: waiting text before waiting images, images by arrival, segment after segment', async () => {
    const s = new Scheduler(options());
    const r = recorder();
    // An image step gives text that arrives before it starts the turn first.
    const early = s.turn('image', r.step('early image', 5));
    const earlyText = s.turn('text', r.step('early text', 1));
    await Promise.all([early, earlyText]);
    expect(r.log.splice(0)).toEqual(['early text', 'early image']);
    // One image run at a time, as SessionChain's lock does; its segments take the scheduler's turns.
    const chain = new FairLock();
    const image = async (name: string) => {
      const unlock = await chain.acquire();
      const order = s.newJob();
      for (let k = 0; k < 3; k++) await s.turn('image', r.step(`${name}${k}`, 5), { order });
      unlock();
    };
    const first = image('A');
    await until(() => r.log.length > 0);
    // While A0 runs: image B arrives, then two texts.
    const second = image('B');
    const texts = [s.turn('text', r.step('t1', 2)), s.turn('text', r.step('t2', 2))];
    await Promise.all([first, second, ...texts]);
    expect(r.overlaps()).toBe(0);
    expect(r.log[0]).toBe('A0');
    // The texts go right after the running step; A finishes before B starts.
    expect(r.log.slice(1, 3)).toEqual(['t1', 't2']);
    expect(r.log.filter((n) => !n.startsWith('t'))).toEqual(['A0', 'A1', 'A2', 'B0', 'B1', 'B2']);
  });

  it('gives images their share under a steady stream of text, so that they finish (no livelock)', async () => {
    for (const share of [0.2, 0.5]) {
      const s = new Scheduler(options(share));
      const r = recorder();
      let stop = false;
      const textClient = async () => {
        while (!stop) await s.turn('text', r.step('t', 3));
      };
      const clients = [textClient(), textClient(), textClient()];
      const order = s.newJob();
      for (let k = 0; k < 4; k++) await s.turn('image', r.step(`i${k}`, 3), { order });
      stop = true;
      await Promise.all(clients);
      expect(r.overlaps()).toBe(0);
      // Text was served throughout, and the image still got at least about its share of the steps.
      const images = r.log.filter((n) => n.startsWith('i')).length;
      expect(images).toBe(4);
      expect(r.log.filter((n) => n === 't').length).toBeGreaterThan(0);
      expect(images / r.log.length).toBeGreaterThan(share / 2);
      // Never two image steps in a row while prompts wait: a prompt waits for at most one image step.
      expect(r.log.join(',')).not.toMatch(/i\d,i\d/);
    }
  });

  it('does not start a step whose signal aborted while it waited, and keeps handing the turn on', async () => {
    const s = new Scheduler(options());
    const r = recorder();
    const running = s.turn('image', r.step('long', 20));
    await until(() => r.log.length > 0);
    const gone = new AbortController();
    const abandoned = s.turn('text', r.step('abandoned', 1), { signal: gone.signal });
    const next = s.turn('text', r.step('next', 1));
    gone.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    await Promise.all([running, next]);
    expect(r.log).toEqual(['long', 'next']);
  });

  it('refuses work whose expected wait passes the bound with 503 OVERLOADED and a Retry-After', async () => {
    let now = 0;
    const s = new Scheduler({ ...options(), now: () => now });
    // Teach it the cost of a prompt: 8 prompts in 400 ms.
    await s.turn(
      'text',
      async () => {
        now += 400;
        return 8;
      },
      { units: (n) => n },
    );
    const kinds: WorkKind[] = ['text', 'image'];
    for (const kind of kinds) expect(s.expectedWaitMs(kind)).toBe(0);
    const releases = Array.from({ length: 20 }, () => s.admit('text', 1));
    expect(s.expectedWaitMs('text')).toBe(1000);
    let refused: unknown;
    try {
      s.admit('text', 1);
      s.admit('text', 1);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(EdgeClipError);
    expect(refused).toMatchObject({ code: 'OVERLOADED', status: 503 });
    expect((refused as EdgeClipError).retryAfter).toBeGreaterThanOrEqual(1);
    for (const release of releases) release();
    expect(s.expectedWaitMs('text')).toBeLessThan(100);
    expect(() => s.admit('text', 1)).not.toThrow();
  });
});

describe('shared work in flight', () => {
  /** A run that waits for `gate`, then checks its signal: what a tower run between two steps does. */
  function runs() {
    const signals: AbortSignal[] = [];
    const gate = deferred<void>();
    const start = async (signal: AbortSignal) => {
      signals.push(signal);
      await gate.promise;
      signal.throwIfAborted();
      return `row ${signals.length}`;
    };
    return { signals, gate, start };
  }

  it('runs a key once for every caller; a joiner leaving changes nothing, the last one leaving aborts the run', async () => {
    const work = new SharedWork<string>();
    const r = runs();
    const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
    const first = work.run('k', a.signal, r.start);
    const second = work.run('k', b.signal, r.start);
    const third = work.run('k', c.signal, r.start);
    expect(r.signals).toHaveLength(1);
    b.abort();
    await expect(second).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    expect(r.signals[0].aborted).toBe(false);
    r.gate.resolve();
    await expect(first).resolves.toBe('row 1');
    await expect(third).resolves.toBe('row 1');
    expect(work.stats).toEqual({ started: 1, joined: 2 });

    const again = runs();
    const d = new AbortController();
    const lone = work.run('k', d.signal, again.start);
    d.abort();
    await expect(lone).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    expect(again.signals[0].aborted).toBe(true);
    expect(work.has('k')).toBe(false);
  });

  it('when the request that started a run leaves, the run stops and a caller still waiting starts it again itself', async () => {
    const work = new SharedWork<string>();
    const r = runs();
    const starter = new AbortController();
    const first = work.run('k', starter.signal, r.start);
    const second = work.run('k', undefined, r.start);
    const third = work.run('k', undefined, r.start);
    starter.abort();
    await expect(first).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    // The first run was aborted; the waiting callers started one new run between them.
    await new Promise((res) => setTimeout(res, 0));
    expect(r.signals.map((s) => s.aborted)).toEqual([true, false]);
    r.gate.resolve();
    await expect(second).resolves.toBe('row 2');
    await expect(third).resolves.toBe('row 2');
  });
});
