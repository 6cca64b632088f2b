import type { NotYetRule } from './types';

/**
 * Retrying cloud calls, in one place: throttling (any call, a bounded number of attempts) and
 * "not yet" errors (what a NotYetRule declares, for as long as it says). Backoff is full jitter: a
 * random pause up to base * 2^attempt, capped.
 */

/** Errors a cloud API returns when it is throttling: worth retrying after a pause. */
export function isThrottling(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $retryable?: { throttling?: boolean }; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== 'object') return false;
  if (e.$retryable?.throttling) return true;
  if (e.$metadata?.httpStatusCode === 429) return true;
  // Not LimitExceededException: DynamoDB uses it for quotas too ("a limit of 2500 tables"), which no
  // wait lifts; its transient form (simultaneous table operations) is a not-yet rule of aws_dynamo.
  return /^(Throttling|ThrottlingException|TooManyRequestsException|RequestLimitExceeded|ProvisionedThroughputExceededException|RequestThrottled|SlowDown)$/.test(e.name ?? e.code ?? '');
}

/** Seconds the service asked us to wait (Retry-After), when it said. */
function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } })?.$response?.headers;
  const v = headers?.['retry-after'] ?? headers?.['Retry-After'];
  const s = v === undefined ? NaN : Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/** Full jitter: a random pause up to base * 2^attempt (attempt from 0), at most `capMs`. */
export const backoffMs = (attempt: number, baseMs: number, capMs: number) => Math.random() * Math.min(capMs, baseMs * 2 ** attempt);

/** A pause that ends early, rejecting with the signal's reason, when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const aborted = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', aborted, { once: true });
  });
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

/** How throttling is retried when the caller does not say: 8 attempts, pauses from 100 ms up to 5 s. */
export const THROTTLING_RETRY = { attempts: 8, baseMs: 100, capMs: 5000 } as const;
/** Pauses between the attempts of a not-yet retry: from 200 ms, at most 5 s (the cloud catches up in seconds). */
export const NOT_YET_BACKOFF = { baseMs: 200, capMs: 5000 } as const;

/** Runs `fn`, retrying throttling errors (the pause the service asked for, when it said one). */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isThrottling(err) || attempt + 1 >= opts.attempts || opts.signal?.aborted) throw err;
      if (opts.canRetry && !(await opts.canRetry(err))) throw err;
      const delay = retryAfterMs(err) ?? backoffMs(attempt, opts.baseMs, opts.capMs);
      opts.onRetry?.(attempt + 1, delay, err);
      await pause(delay, opts.signal);
    }
  }
}

/** The rule that says `err`, from `operation`, means "not yet"; undefined when none does. */
export function notYetRule(rules: readonly NotYetRule[], operation: string, err: unknown, justCreated: boolean): NotYetRule | undefined {
  const e = err as { name?: string; code?: string; Code?: string; message?: string } | undefined;
  if (!e || typeof e !== 'object') return undefined;
  return rules.find(
    (r) =>
      r.operation === operation &&
      (r.error === e.name || r.error === e.code || r.error === e.Code) &&
      (!r.message || r.message.test(e.message ?? '')) &&
      (!r.justCreated || justCreated),
  );
}

export interface CallRetryOptions {
  /** The API operation `fn` calls (what rules name). */
  operation: string;
  rules: readonly NotYetRule[];
  /** The caller sent this call about a resource it just created (rules with `justCreated` apply). */
  justCreated?: boolean;
  signal?: AbortSignal;
  /** Default THROTTLING_RETRY. */
  throttling?: { attempts: number; baseMs: number; capMs: number };
  /** Default NOT_YET_BACKOFF. */
  notYetBackoff?: { baseMs: number; capMs: number };
  /** Called before each pause: `why` is the rule's, or 'throttled'. */
  onRetry?: (retry: { attempt: number; delayMs: number; err: unknown; why: string }) => void;
}

/**
 * Runs one cloud call, sending it again while it fails with an error a not-yet rule matches (until
 * the rule's `forMs` from the first attempt runs out) or with throttling (up to the attempts).
 * Anything else, or a rule whose time ran out, throws the cloud's own error. An abort of `signal`
 * ends a pause at once with the signal's reason.
 */
export async function retryCall<T>(fn: () => Promise<T>, o: CallRetryOptions): Promise<T> {
  const throttling = o.throttling ?? THROTTLING_RETRY;
  const notYet = o.notYetBackoff ?? NOT_YET_BACKOFF;
  const started = performance.now();
  let throttled = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (o.signal?.aborted) throw err;
      const rule = notYetRule(o.rules, o.operation, err, o.justCreated ?? false);
      let delayMs: number;
      if (rule) {
        const left = rule.forMs - (performance.now() - started);
        if (left <= 0) throw err;
        delayMs = Math.min(left, backoffMs(attempt, notYet.baseMs, notYet.capMs));
      } else if (isThrottling(err) && ++throttled < throttling.attempts) {
        delayMs = retryAfterMs(err) ?? backoffMs(throttled - 1, throttling.baseMs, throttling.capMs);
      } else {
        throw err;
      }
      o.onRetry?.({ attempt: attempt + 1, delayMs, err, why: rule?.why ?? 'throttled' });
      await pause(delayMs, o.signal);
    }
  }
}
