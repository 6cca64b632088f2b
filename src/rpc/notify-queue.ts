import type { Logger } from '../logger';
import type { Connections } from '../postgres/connections';

/**
 * The share of Postgres' NOTIFY queue from which the engine acts (sql/metadata/rpc.sql reads the
 * same figure as :notify_queue_threshold): calls stop announcing themselves (each announcement is
 * up to 8 KB; their graphile job's is a few bytes), and tenant sessions holding the queue are ended.
 */
export const NOTIFY_QUEUE_THRESHOLD = 0.25;

export interface NotifyQueueGuardOptions {
  /** How often the queue's usage is read. Default 5000 ms. */
  checkMs?: number;
  /** While the queue is over the threshold, tenant transactions open longer than this are ended. Default 10 000 ms. */
  minTransactionMs?: number;
}

/**
 * Keeps the server-wide NOTIFY queue from filling up. Postgres keeps every notification until all
 * listening sessions have read it, and a session reads only between transactions: one tenant
 * session that LISTENs and then parks in a transaction, plus another that notifies a lot, fills
 * the queue (8 GB by default), after which every NOTIFY on the server fails at commit ("too many
 * notifications in the NOTIFY queue"): the rpc fast path's, and graphile-worker's add_job too,
 * so every tenant's calls would fail. A tenant can raise its own statement and idle timeouts
 * (SET), so the engine watches: from the threshold up, it ends tenant sessions whose transaction
 * has been open long enough to be holding the queue (Postgres shows no per-session queue
 * position, so a long transaction is the mark), and says so at WARN. Only tenant roles of managed
 * databases are ended, never the engine's, the queue's or an operator's sessions.
 */
export class NotifyQueueGuard {
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private readonly checkMs: number;
  private readonly minTransactionMs: number;

  constructor(
    private readonly conns: Connections,
    private readonly metadataDatabase: string,
    private readonly logger: Logger,
    options: NotifyQueueGuardOptions = {},
  ) {
    this.checkMs = options.checkMs ?? 5000;
    this.minTransactionMs = options.minTransactionMs ?? 10_000;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.checking ??= this.check()
        .then(
          () => undefined,
          (err: Error) => this.logger.warn({ err: err.message }, 'could not check the NOTIFY queue'),
        )
        .finally(() => (this.checking = undefined));
    }, this.checkMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
  }

  /** One look at the queue; ends the sessions holding it when it is over the threshold. Returns the pids ended. */
  async check(): Promise<number[]> {
    const { rows } = await this.conns.query<{ usage: number }>(this.metadataDatabase, 'select pg_catalog.pg_notification_queue_usage() as usage');
    const usage = Number(rows[0].usage);
    if (usage < NOTIFY_QUEUE_THRESHOLD) return [];
    const ended = await this.conns.query<{ pid: number; database: string; role: string; seconds: number; ended: boolean }>(
      this.metadataDatabase,
      `select a.pid, a.datname as database, a.usename as role,
              round(extract(epoch from pg_catalog.now() operator(pg_catalog.-) a.xact_start))::int as seconds,
              pg_catalog.pg_terminate_backend(a.pid) as ended
         from pg_catalog.pg_stat_activity a
         join public.managed_database d on d.role_name operator(pg_catalog.=) a.usename and d.name operator(pg_catalog.=) a.datname
        where a.backend_type operator(pg_catalog.=) 'client backend'
          and a.xact_start operator(pg_catalog.<) (pg_catalog.now() operator(pg_catalog.-) pg_catalog.make_interval(secs => $1::float8 operator(pg_catalog./) 1000))`,
      [this.minTransactionMs],
    );
    const sessions = ended.rows.filter((r) => r.ended);
    this.logger.warn(
      {
        usage: Math.round(usage * 1000) / 1000,
        ended: sessions.map((s) => ({ database: s.database, role: s.role, pid: s.pid, transactionSeconds: s.seconds })),
      },
      `the server's NOTIFY queue is ${Math.round(usage * 100)}% full: rpc calls go through graphile-worker jobs instead of announcing themselves` +
        (sessions.length
          ? `; ended ${sessions.length} tenant session${sessions.length === 1 ? '' : 's'} holding a transaction open for over ${this.minTransactionMs / 1000} s (a listener in a transaction holds the queue)`
          : '; no tenant session holds a transaction open long enough to be ended: the holder may be an operator or the engine (see the Postgres log: "among those with the oldest transactions")'),
    );
    return sessions.map((s) => s.pid);
  }
}
