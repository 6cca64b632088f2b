interface Entry<T> {
  key: string;
  ready: Promise<T>;
  /** Uses in progress; only an entry without any is closed to make room. */
  leases: number;
  /** A logical clock: the smallest is the least recently used. */
  lastUsed: number;
  /** Close as soon as the last lease ends (its account is being removed). */
  doomed: boolean;
  closing?: Promise<void>;
  closed: Promise<void>;
  markClosed: () => void;
}

/**
 * At most `max` open instances of something costly, by key: opened on first use, and when
 * another one is needed, the least recently used idle one is closed (it reopens on demand). An
 * instance in use is never closed under its user; when every one is busy, a new use waits.
 */
export class BoundedPool<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private waiting: Array<() => void> = [];
  private clock = 0;
  private stopped = false;

  constructor(
    private readonly max: number,
    private readonly open: (key: string) => Promise<T>,
    /** Must not reject: report failures itself. */
    private readonly close: (value: T, key: string) => Promise<void>,
  ) {
    if (!(max >= 1)) throw new Error(`a pool needs room for at least one instance, not ${max}`);
  }

  /** Runs `fn` with the instance of `key`, which stays open until `fn` settles. */
  async use<R>(key: string, fn: (value: T) => Promise<R>): Promise<R> {
    const entry = await this.lease(key);
    try {
      return await fn(await entry.ready);
    } finally {
      entry.leases--;
      if (entry.leases === 0 && entry.doomed) void this.shut(entry);
      this.wake();
    }
  }

  /** Closes the instances whose keys match, once their current uses end. */
  async drop(match: (key: string) => boolean): Promise<void> {
    const doomed = [...this.entries.values()].filter((e) => match(e.key));
    for (const entry of doomed) {
      entry.doomed = true;
      if (entry.leases === 0) void this.shut(entry);
    }
    await Promise.all(doomed.map((e) => e.closed));
  }

  /** Closes every instance now, in use or not; further uses fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await Promise.all([...this.entries.values()].map((e) => this.shut(e)));
  }

  private async lease(key: string): Promise<Entry<T>> {
    for (;;) {
      if (this.stopped) throw new Error('the local cloud is stopping');
      const entry = this.entries.get(key);
      if (entry && !entry.closing && !entry.doomed) {
        entry.leases++;
        entry.lastUsed = ++this.clock;
        return entry;
      }
      if (entry) {
        await entry.closed;
        continue;
      }
      if (this.entries.size >= this.max) {
        const idle = [...this.entries.values()].filter((e) => e.leases === 0 && !e.closing).sort((a, b) => a.lastUsed - b.lastUsed)[0];
        if (idle) await this.shut(idle);
        else await new Promise<void>((wake) => this.waiting.push(wake));
        continue;
      }
      this.entries.set(key, this.create(key));
    }
  }

  private create(key: string): Entry<T> {
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const entry: Entry<T> = { key, ready: this.open(key), leases: 0, lastUsed: 0, doomed: false, closed, markClosed };
    // A failed open holds nothing: forget it, so the next use tries again.
    entry.ready.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      markClosed();
      this.wake();
    });
    return entry;
  }

  private shut(entry: Entry<T>): Promise<void> {
    entry.closing ??= (async () => {
      try {
        const value = await entry.ready.catch(() => undefined);
        if (value !== undefined) await this.close(value, entry.key).catch(() => undefined);
      } finally {
        if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
        entry.markClosed();
        this.wake();
      }
    })();
    return entry.closing;
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
  }
}
