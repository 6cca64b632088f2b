import type { ClientBase } from 'pg';

type Callback = (err: Error | null, result?: unknown) => void;

/**
 * Makes `client` run its queries one at a time, in the order they were asked for. Parts of the
 * engine share one client (an rpc call's connection serves the handler's ctx.query, mappers reading
 * the cloud in parallel, a commit's progress writes): node-pg 8 queues a query given while another
 * runs, but deprecates it, and pg 9 refuses it. Results, errors and order are as they were.
 * Every client Connections hands out is made so.
 */
export function serializeQueries<C extends ClientBase>(client: C): C {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  let tail: Promise<unknown> = Promise.resolve();
  client.query = ((...args: unknown[]) => {
    // pg-pool's pool.query passes a callback; the engine awaits promises.
    const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as Callback) : undefined;
    if (typeof (args[0] as { submit?: unknown } | undefined)?.submit === 'function') {
      throw new Error('a query object with submit() (a cursor or a stream) cannot be queued behind other queries');
    }
    const run = tail.then(() => query(...args));
    tail = run.catch(() => undefined);
    if (!callback) return run;
    run.then(
      (result) => callback(null, result),
      (err: Error) => callback(err),
    );
    return undefined;
  }) as C['query'];
  return client;
}
