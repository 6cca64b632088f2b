/**
 * Runs a set of tasks with dependencies: each starts as soon as every task it depends on has
 * succeeded, at most `limit(bucket)` at once per bucket (a service in a region). On the first
 * failure nothing new starts; the running ones finish. Tasks whose dependencies failed or never
 * ran are reported as skipped.
 */
export interface Task<T> {
  key: string;
  bucket: string;
  dependsOn: string[];
  run(): Promise<T>;
}

export interface TaskOutcome<T> {
  done: Array<{ key: string; result: T; finishedAt: number }>;
  failed: Array<{ key: string; error: unknown }>;
  skipped: string[];
}

export async function runTasks<T>(tasks: Array<Task<T>>, limit: (bucket: string) => number, onChange?: (running: string[], doneCount: number) => void): Promise<TaskOutcome<T>> {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const waiting = new Set(tasks.map((t) => t.key));
  const running = new Set<string>();
  const succeeded = new Set<string>();
  const inBucket = new Map<string, number>();
  const outcome: TaskOutcome<T> = { done: [], failed: [], skipped: [] };
  let stopping = false;

  return new Promise((resolve) => {
    const pump = () => {
      if (!stopping) {
        for (const key of [...waiting]) {
          const t = byKey.get(key)!;
          if (!t.dependsOn.every((d) => succeeded.has(d) || !byKey.has(d))) continue;
          const used = inBucket.get(t.bucket) ?? 0;
          if (used >= Math.max(1, limit(t.bucket))) continue;
          waiting.delete(key);
          running.add(key);
          inBucket.set(t.bucket, used + 1);
          Promise.resolve()
            .then(() => t.run())
            .then(
              (result) => {
                succeeded.add(key);
                outcome.done.push({ key, result, finishedAt: performance.now() });
              },
              (error) => {
                stopping = true;
                outcome.failed.push({ key, error });
              },
            )
            .finally(() => {
              running.delete(key);
              inBucket.set(t.bucket, (inBucket.get(t.bucket) ?? 1) - 1);
              pump();
              onChange?.([...running], outcome.done.length);
            });
        }
      }
      if (running.size === 0) {
        // Nothing runs and nothing more can start: what is left waits on a failure (or a cycle).
        outcome.skipped.push(...waiting);
        waiting.clear();
        resolve(outcome);
      }
    };
    pump();
    onChange?.([...running], 0);
  });
}

/** Errors a cloud API returns when it is throttling: worth retrying after a pause. */
export function isThrottling(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $retryable?: { throttling?: boolean }; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== 'object') return false;
  if (e.$retryable?.throttling) return true;
  if (e.$metadata?.httpStatusCode === 429) return true;
  return /^(Throttling|ThrottlingException|TooManyRequestsException|RequestLimitExceeded|ProvisionedThroughputExceededException|RequestThrottled|SlowDown|LimitExceededException)$/.test(e.name ?? e.code ?? '');
}

/** Seconds the service asked us to wait (Retry-After), when it said. */
function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers;
  const v = headers?.['retry-after'] ?? headers?.['Retry-After'];
  const s = v === undefined ? NaN : Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  capMs: number;
  signal?: AbortSignal;
  /** Asked before each retry of a retryable error: false ends the retries (the error is thrown). */
  canRetry?: (err: unknown) => Promise<boolean>;
  onRetry?: (attempt: number, delayMs: number, err: unknown) => void;
}

/**
 * Runs `fn`, retrying throttling errors with full-jitter exponential backoff (a random pause up to
 * base * 2^attempt, capped), or the pause the service asked for when it said one.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isThrottling(err) || attempt + 1 >= opts.attempts || opts.signal?.aborted) throw err;
      if (opts.canRetry && !(await opts.canRetry(err))) throw err;
      const delay = retryAfterMs(err) ?? Math.random() * Math.min(opts.capMs, opts.baseMs * 2 ** attempt);
      opts.onRetry?.(attempt + 1, delay, err);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
