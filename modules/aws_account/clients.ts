import type { CloudContext } from '../../src/commit/types';
import type { AwsAccountExports, AwsClientConfig } from './index';

// AWS SDK clients are kept across commits and calls, per service, region, credentials and
// endpoint, so their connections are reused; a new key or endpoint gets a new client. Bounded:
// the oldest goes first.
const clients = new Map<string, { destroy(): void }>();
const MAX_CLIENTS = 128;

/** A client of `service` in `region` with the calling database's credentials (aws_account). */
export async function awsClient<C extends { destroy(): void }>(
  ctx: Pick<CloudContext, 'dependencies'>,
  service: string,
  region: string,
  make: (config: AwsClientConfig) => C,
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
    clients.set(key, client);
  }
  return client;
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
