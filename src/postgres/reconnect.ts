/**
 * Runs `attempt` until it succeeds or `stopped()` says to give up, waiting between tries from
 * `firstMs`, doubling up to 5 s: how the engine takes back a session it holds on purpose (the rpc
 * listener, the liveness lock) after a server restart or a terminated backend.
 */
export async function reconnect(opts: {
  firstMs: number;
  stopped: () => boolean;
  attempt: () => Promise<void>;
  /** Told each failure and the wait before the next try. */
  onError: (err: Error, retryInMs: number) => void;
}): Promise<void> {
  for (let delay = opts.firstMs; !opts.stopped(); delay = Math.min(delay * 2, 5000)) {
    await new Promise((r) => setTimeout(r, delay).unref());
    if (opts.stopped()) return;
    try {
      await opts.attempt();
      return;
    } catch (err) {
      opts.onError(err as Error, Math.min(delay * 2, 5000));
    }
  }
}
