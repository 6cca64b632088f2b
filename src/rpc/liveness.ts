import type { Client } from 'pg';
import type { Logger } from '../logger';
import type { Connections } from '../postgres/connections';
import { lockArgs } from '../postgres/lock-keys';
import { reconnect } from '../postgres/reconnect';


/**
 * "An engine that takes calls is here": a shared session advisory lock (src/postgres/lock-keys.ts,
 * engineAlive) in the metadata database, which sql/metadata/rpc.sql looks for in pg_locks when a
 * call has waited a second for a worker. Held from early in the start (before the slow parts, so
 * a call made while an engine restarts waits for it) to the beginning of the stop. Without it, a
 * queued caller learns within about a second that no engine is running (IQ008) instead of waiting
 * its whole timeout. Costs one connection and nothing per call.
 */
export class EngineLiveness {
  private client?: Client;
  private released = false;

  constructor(
    private readonly conns: Connections,
    private readonly metadataDatabase: string,
    private readonly logger: Logger,
  ) {}

  async hold(): Promise<void> {
    const client = await this.conns.dedicated(this.metadataDatabase);
    this.client = client;
    // Lost (a server restart, a terminated backend): taken again, so callers do not see IQ008.
    client.on('end', () => void (this.released || this.retake()));
    const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock_shared(${lockArgs('engineAlive')}) as ok`);
    if (!rows[0].ok) this.logger.warn({ key: lockArgs('engineAlive') }, 'another session holds the engine liveness key exclusively; queued callers may be told no engine runs');
  }

  private retake(): Promise<void> {
    return reconnect({
      firstMs: 100,
      stopped: () => this.released,
      attempt: () => this.hold(),
      onError: (err, retryInMs) => this.logger.warn({ err: err.message, retryInMs }, 'could not take the engine liveness lock again; retrying'),
    });
  }

  /** Ends the session, which releases the lock: from now on queued callers learn no engine runs. */
  async release(): Promise<void> {
    this.released = true;
    await this.client?.end().catch(() => undefined);
  }
}
