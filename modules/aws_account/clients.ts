import { retryCall } from '../../src/commit/retry';
import type { CloudContext, NotYetRule } from '../../src/commit/types';
import type { AwsAccountExports, AwsClientConfig } from './index';

/** What a client is made for: the calling database's credentials, and who to tell about retries and when to stop. */
export type AwsCallContext = Pick<CloudContext, 'database' | 'dependencies' | 'logger' | 'signal'>;

// AWS SDK clients are kept across commits and calls, per service, region, credentials and
// endpoint, so their connections are reused; a new key or endpoint gets a new client. Bounded:
// the oldest goes first.
const clients = new Map<string, { destroy(): void }>();
const MAX_CLIENTS = 128;

/** Who sent a command, found by the retry middleware from the command itself (clients are shared; callers are not). */
interface Caller {
  ctx: AwsCallContext;
  justCreated: boolean;
}
const callers = new WeakMap<object, Caller>();
/** Each view awsClient hands out: the shared client under it, and its caller. */
const views = new WeakMap<object, { client: object; caller: Caller }>();

/**
 * A client of `service` in `region` with the calling database's credentials (aws_account). Every
 * command it sends is retried per call (src/commit/retry.ts): throttling, and the errors `notYet`
 * declares to mean "not yet" (the service's rules: pass the same list wherever the service's
 * client is made). The client is shared; what is returned is a view of it for `ctx`: its commands
 * are aborted with `ctx.signal` (unless a send says otherwise) and their retries logged to
 * `ctx.logger`, with the rule's `why`.
 */
export async function awsClient<C extends { destroy(): void }>(
  ctx: AwsCallContext,
  service: string,
  region: string,
  make: (config: AwsClientConfig) => C,
  notYet: readonly NotYetRule[] = [],
): Promise<C> {
  const config = await (ctx.dependencies.aws_account as unknown as AwsAccountExports).clientConfig(region);
  const key = JSON.stringify([service, config.region, config.endpoint ?? null, config.credentials]);
  let client = clients.get(key) as C | undefined;
  if (!client) {
    if (clients.size >= MAX_CLIENTS) {
      const [oldest, c] = clients.entries().next().value as [string, { destroy(): void }];
      clients.delete(oldest);
      c.destroy();
    }
    client = make(config);
    (client as unknown as MiddlewareClient).middlewareStack.add(retryMiddleware(service, notYet), { step: 'initialize', name: 'iasqlRetry' });
    clients.set(key, client);
  }
  return view(client, { ctx, justCreated: false });
}

/**
 * The same client, for calls about a resource the mapper has just created (it read back the role
 * it made): the rules marked `justCreated` apply to them, e.g. GetRole's NoSuchEntity, which is
 * otherwise a plain answer ("no such role").
 */
export function justCreated<C extends object>(client: C): C {
  const v = views.get(client);
  if (!v) throw new Error('justCreated() takes a client made by awsClient()');
  return view(v.client as C, { ...v.caller, justCreated: true });
}

function view<C extends object>(client: C, caller: Caller): C {
  const shared = client as unknown as { send(command: object, options?: object): Promise<unknown> };
  const send = (command: object, options?: object) => {
    callers.set(command, caller);
    return shared.send(command, { abortSignal: caller.ctx.signal, ...options });
  };
  const proxy = new Proxy(client, { get: (target, prop) => (prop === 'send' ? send : Reflect.get(target, prop)) });
  views.set(proxy, { client, caller });
  return proxy;
}

// The SDK's middleware types, as far as used here (they live in @smithy/types, not a dependency).
type Handler = (args: object) => Promise<unknown>;
interface MiddlewareClient {
  middlewareStack: { add(middleware: (next: Handler, context: Record<string, unknown>) => Handler, options: { step: 'initialize'; name: string }): void };
}
/** @smithy/types' SMITHY_CONTEXT_KEY: the operation's name and the command being sent are in there. */
const SMITHY_CONTEXT = '__smithy_context';

/**
 * Runs at the SDK's first step, so each retry is the whole send again (serialised, signed, sent
 * anew), once per command however many attempts the SDK's own retry layer makes beneath.
 */
function retryMiddleware(service: string, notYet: readonly NotYetRule[]) {
  return (next: Handler, context: Record<string, unknown>): Handler =>
    (args) => {
      const smithy = (context[SMITHY_CONTEXT] ?? {}) as { operation?: string; commandInstance?: object };
      const operation = smithy.operation ?? String(context.commandName ?? '').replace(/Command$/, '');
      const caller = smithy.commandInstance && callers.get(smithy.commandInstance);
      return retryCall(() => next(args), {
        operation,
        rules: notYet,
        justCreated: caller?.justCreated,
        signal: caller?.ctx.signal,
        onRetry: ({ attempt, delayMs, err, why }) =>
          caller?.ctx.logger.info(
            { database: caller.ctx.database, service, operation, attempt, delayMs: Math.round(delayMs), err: (err as Error).name, message: (err as Error).message, why },
            `${operation}: retrying (${why})`,
          ),
      });
    };
}

/**
 * A package loaded on first use instead of when the engine starts: the AWS SDK clients cost
 * 100-150 ms each to load, which every start paid for modules a database may never use. Typed as
 * the package; `new Sdk.Command(...)` and `Sdk.fn(...)` read as with a static import.
 */
export function lazyRequire<T extends object>(name: string): T {
  let loaded: T | undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return new Proxy({} as T, { get: (_t, prop) => (loaded ??= require(name) as T)[prop as keyof T] });
}
