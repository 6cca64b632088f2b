import { escapeLiteral as literal, type Pool, type PoolClient } from 'pg';
import { run, Runner, Task } from 'graphile-worker';
import type { Logger } from '../logger';
import type { IasqlApi, RpcContext } from '../modules/define';
import type { ModuleOperations } from '../modules/operations';
import type { LoadedVersion, ModuleRegistry } from '../modules/registry';
import { connectWithin, type Connections } from '../postgres/connections';
import { changeSetApi, describeProgress } from '../commit/bind';
import { dependencyExports } from '../modules/exports';
import type { CommitOptions, Progress } from '../commit/change-sets';
import { ENGINE_VERSION } from '../version';
import { argumentsDepth, checkArguments, checkResult, MAX_ARGUMENT_DEPTH } from './arguments';
import { RPC_SQLSTATE, RpcError, RpcErrorBody, toRpcErrorBody } from './errors';
import { reconnect } from '../postgres/reconnect';
import { pgLocksMatchCall } from '../postgres/lock-keys';

export interface RpcWorkerOptions {
  /** Calls run at once by this engine process. */
  concurrency: number;
  /** iasql_rpc history rows older than this are pruned (hourly). */
  historyDays: number;
  /** At most this many iasql_rpc rows are kept per database. */
  historyMax: number;
  /** Calls of one database this process runs at once (the rest wait their turn, not holding a slot). */
  perDatabase?: number;
  /** A result whose JSON is larger fails the call with IQ002. */
  maxResultBytes?: number;
  /** How commits apply (default: DEFAULT_COMMIT_OPTIONS). */
  commit?: CommitOptions;
}

interface QueuedCall {
  id: string | number;
  database: string;
  module: string;
  method: string;
  args: Record<string, unknown>;
  caller: string;
  timeout_ms: number;
}

/** A call whose handler runs now: what a stop reports, and how it ends it. */
interface RunningCall {
  call: QueuedCall;
  controller: AbortController;
  /** The change set, once the call is a commit that reported progress. */
  changeSet?: number;
}

type Outcome = { status: 'succeeded'; result: unknown } | { status: 'failed' | 'timed_out'; error: RpcErrorBody };

/**
 * The engine side of rpc. Calls arrive as notifications (run at once, or from a backlog when every
 * slot is busy) and, when nobody took them in time or they are too big to announce, as jobs of a
 * graphile-worker runner on the metadata database (task `rpc`). For each call it takes a session advisory lock keyed by the call id in the CALLING database
 * (the bigint form, which only calls use: src/postgres/lock-keys.ts),
 * marks the call running (the caller then blocks on that lock), dispatches to the handler of the
 * module version installed there, stores result or error, writes the iasql_rpc history row, and
 * releases the lock. If this process dies, Postgres releases the lock and the caller fails at once.
 */
export class RpcWorker {
  private runner?: Runner;
  private listener?: import('pg').Client;
  private readonly inFlight = new Map<string, RunningCall>();
  /** Calls started from their notification (graphile-worker tracks those it runs). */
  private readonly fast = new Set<Promise<void>>();
  /**
   * Calls waiting for a slot or for their database's share, oldest first: announced ones (a call
   * waiting 250 ms also gets a graphile job) and parked jobs (`job`: the job has completed, so this
   * process reports what happens to the call; its rpc_call row names this engine's listener).
   */
  private readonly backlog: Array<{ call: QueuedCall; via: 'job' | 'notify' }> = [];
  /** Calls running now per database, on either path: no database gets more than `perDatabase`. */
  private readonly running = new Map<string, number>();
  private stopping = false;
  private stopped?: Promise<void>;

  constructor(
    private readonly conns: Connections,
    private readonly metadataDatabase: string,
    private readonly registry: ModuleRegistry,
    private readonly modules: ModuleOperations,
    private readonly logger: Logger,
    private readonly options: RpcWorkerOptions,
  ) {}

  async start(): Promise<void> {
    await this.listen();

    // The job's payload is the call itself (written by iasql_rpc_enqueue): no read before the lock.
    const rpc: Task = async (payload) => {
      const call = payload as QueuedCall;
      // Stopping: the job completes unrun, and the caller's next status check adds another one.
      if (this.stopping || (await this.status(String(call.id))) !== 'queued') return; // usually the notification ran it
      // Its database has its share running: the call waits in the backlog, not in this job slot,
      // which goes back to graphile-worker for another database's call.
      if (!this.hasRoom(call.database) && (await this.park(call))) return;
      this.enter(call.database);
      try {
        if (this.stopping) return;
        await this.execute(call);
      } finally {
        this.leave(call.database);
        this.drainBacklog();
      }
    };
    const prune: Task = async () => void (await this.prune());
    this.runner = await run({
      pgPool: this.queue(),
      concurrency: this.options.concurrency,
      noHandleSignals: true,
      pollInterval: 2000,
      taskList: { rpc, iasql_rpc_prune: prune },
      crontab: '0 * * * * iasql_rpc_prune',
      logger: graphileLogger(this.logger),
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0, localQueue: { size: 20 } } },
    });
  }

  /**
   * The LISTEN connection: callers that give up notify (the handler's signal is aborted), and new
   * calls are announced (the fast path). If the connection is lost (server restart, a terminated
   * backend), it reconnects with backoff; meanwhile calls still run from their graphile jobs.
   */
  private async listen(): Promise<void> {
    const listener = await this.conns.dedicated(this.metadataDatabase);
    // Secret names (sql/metadata/rpc.sql says why): what arrives on them was sent by the queue functions.
    const channels = await rpcChannels(listener).catch(async (err) => {
      await listener.end().catch(() => undefined);
      throw err;
    });
    this.listener = listener;
    listener.on('notification', (n) => {
      if (n.channel === channels.cancels) this.inFlight.get(n.payload ?? '')?.controller.abort(new RpcError('the caller gave up on this call'));
      else if (n.channel === channels.calls) this.fastPath(n.payload);
    });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || this.stopping) return;
      lost = true;
      this.logger.warn({ err: err?.message ?? 'connection ended' }, 'rpc listener lost; reconnecting');
      listener.end().catch(() => undefined);
      void this.relisten();
    };
    listener.on('error', onLost);
    listener.on('end', () => onLost());
    await listener.query(`LISTEN ${channels.cancels}; LISTEN ${channels.calls}`);
  }

  private relisten(): Promise<void> {
    return reconnect({
      firstMs: 50,
      stopped: () => this.stopping,
      attempt: async () => {
        await this.listen();
        this.logger.info('rpc listener reconnected');
      },
      onError: (err, retryInMs) => this.logger.warn({ err: err.message, retryInMs }, 'rpc listener could not reconnect'),
    });
  }

  /**
   * Takes no new calls, says which are still running, and lets them finish for up to `graceMs`;
   * then ends them (cutOff). Their callers get IQ005 with what to check.
   */
  stop(graceMs = Infinity): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      await this.listener?.end().catch(() => undefined);
      const drained = Promise.all([this.runner?.stop(), ...this.fast]);
      const running = [...this.inFlight.values()];
      if (running.length) {
        this.logger.warn(
          {
            calls: running.map((r) => `${r.call.module}.${r.call.method} in database ${r.call.database} (call ${r.call.id})`),
            commits: running.filter((r) => r.changeSet !== undefined).map((r) => `change set ${r.changeSet} in database ${r.call.database}`),
            graceMs,
          },
          `stopping: waiting up to ${graceMs} ms for ${running.length} running call${running.length === 1 ? '' : 's'}, then ending them (Ctrl-C again: end them now)`,
        );
      }
      let timer: NodeJS.Timeout | undefined;
      if (Number.isFinite(graceMs)) timer = setTimeout(() => this.cutOff(), graceMs);
      await drained;
      clearTimeout(timer);
    })();
    return this.stopped;
  }

  /** Ends the calls still running: their handlers are aborted, their callers get IQ005. */
  cutOff(): void {
    const ids = [...this.inFlight.keys()];
    if (!ids.length) return;
    this.logger.warn({ calls: ids }, 'ending the running calls');
    for (const { call, controller, changeSet } of this.inFlight.values()) {
      const commit = changeSet !== undefined || (call.module === 'iasql_commit' && call.method === 'iasql_commit');
      controller.abort(
        new RpcError(`rpc ${call.module}.${call.method}: the engine stopped before this call finished`, {
          sqlstate: RPC_SQLSTATE.workerLost,
          hint: commit
            ? 'the commit was cut off mid-way: SELECT * FROM iasql_rollback() recovers it'
            : 'the call may have been partly done: check its effects before calling again',
        }),
      );
    }
    // The statement a handler is running now, if any, stops too (its connection is then closed).
    void this.queue()
      .query(`select pg_cancel_backend(worker_pid) from public.rpc_call where id = any($1::bigint[]) and status = 'running' and worker_pid is not null`, [ids])
      .catch(() => undefined);
  }

  /**
   * Starts a call on its enqueue notification, or keeps it in the backlog until a slot frees up.
   * Several engines may try: the call lock and the claim let one run it. A call still queued
   * 250 ms after its enqueue also gets a graphile-worker job (sql/metadata/rpc.sql).
   */
  private fastPath(payload: string | undefined) {
    if (!payload || this.stopping) return;
    let call: QueuedCall;
    try {
      call = JSON.parse(payload);
    } catch {
      return;
    }
    if (this.fast.size < this.options.concurrency && this.hasRoom(call.database)) this.runFast(call, 'notify');
    else if (this.backlog.length < BACKLOG_MAX) this.backlog.push({ call, via: 'notify' });
    // else: 250 ms after its enqueue the call gets a graphile-worker job, which a runner takes
  }

  private runFast(call: QueuedCall, via: 'job' | 'notify') {
    this.enter(call.database);
    const work = this.execute(call, via).catch((err: Error) => this.logger.error({ call: call.id, err: err.message }, 'rpc fast path failed'));
    this.fast.add(work);
    void work.finally(() => {
      this.fast.delete(work);
      this.leave(call.database);
      this.drainBacklog();
    });
  }

  /** Starts the oldest waiting calls whose databases are under their limit, while slots are free. */
  private drainBacklog() {
    for (let i = 0; i < this.backlog.length && this.fast.size < this.options.concurrency && !this.stopping; ) {
      const { call, via } = this.backlog[i];
      if (!this.hasRoom(call.database)) {
        i++;
        continue;
      }
      this.backlog.splice(i, 1);
      this.runFast(call, via);
    }
  }

  // Per-database fairness: one tenant's slow calls may fill its own share of this process's
  // slots, never all of them, so another tenant's call starts at once.
  private hasRoom(database: string): boolean {
    return (this.running.get(database) ?? 0) < (this.options.perDatabase ?? Infinity);
  }

  private enter(database: string) {
    this.running.set(database, (this.running.get(database) ?? 0) + 1);
  }

  private leave(database: string) {
    const n = (this.running.get(database) ?? 1) - 1;
    if (n > 0) this.running.set(database, n);
    else this.running.delete(database);
  }

  /**
   * Takes a job's call into the backlog so that the job can complete, and marks its rpc_call row
   * with this engine's listener connection: iasql_rpc_status then adds no new job for it while that
   * connection lives (if this engine dies, it does, and any engine's runner takes the call). False
   * when it cannot be parked (no listener now, the backlog full): the job then runs it in its slot.
   */
  private async park(call: QueuedCall): Promise<boolean> {
    const id = String(call.id);
    const listenerPid = (this.listener as unknown as { processID?: number } | undefined)?.processID;
    if (!listenerPid || this.stopping) return false;
    const waiting = this.backlog.find((b) => String(b.call.id) === id);
    if (!waiting && this.backlog.length >= BACKLOG_MAX) return false;
    const marked = await this.queue().query(`update public.rpc_call set parked_by = $2 where id = $1 and status = 'queued'`, [id, listenerPid]);
    if (!marked.rowCount) return true; // taken or given up on meanwhile: nothing left to run
    if (waiting) waiting.via = 'job';
    else this.backlog.push({ call, via: 'job' });
    this.drainBacklog();
    return true;
  }

  /**
   * Runs one call end to end, from its graphile job or its enqueue notification. Never throws for
   * the call's own failures: the outcome is stored for the caller.
   */
  async execute(call: QueuedCall, via: 'job' | 'notify' = 'job'): Promise<void> {
    const id = String(call.id);
    if (!/^\d+$/.test(id)) throw new Error(`rpc job with a bad call id: ${id}`);
    let client: PoolClient;
    try {
      await this.conns.ensure(call.database);
      client = await connectWithin(this.conns.pool(call.database), POOL_CONNECT_TIMEOUT_MS, call.database);
    } catch (err) {
      if (via === 'notify') return; // the job will try, and report
      await this.failQueued(id, {
        sqlstate: RPC_SQLSTATE.unavailable,
        message: `cannot connect to database ${call.database}: ${(err as Error).message}`,
        hint: 'call again in a moment; if it keeps failing, the operator can see what holds the database with iasql status (GET /v1/status) and in the engine log',
      });
      return;
    }
    let broken: Error | undefined;
    let held = false;
    const started = new Date();
    let outcome: Outcome | undefined;
    try {
      // The lock first, then "running": a caller that sees "running" always finds the lock held.
      // Never waited for: a tenant session holding that key must not stall a worker slot.
      // The lock, and the installed versions (the called module's and its dependencies') in one round trip.
      const locked = await client.query<{ locked: boolean; versions: Record<string, string> | null }>(
        `select pg_try_advisory_lock($1::bigint) as locked, (select jsonb_object_agg(name, version) from iasql_engine.iasql_module) as versions`,
        [id],
      );
      held = locked.rows[0].locked;
      if (!held) {
        if (via === 'notify') return; // someone else has it; the job decides
        // Held by an engine's worker (this one's fast path, or another engine's, between its lock
        // and its claim): that one runs the call. Held by anyone else: a tenant session squats
        // on the key, and the call fails. Asked of Postgres, not guessed from timing.
        const holder = await client.query<{ engine: boolean }>(
          `select bool_or(a.usename = current_user and a.application_name = 'iasql') as engine
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
           where ${pgLocksMatchCall('$1::bigint')} and l.granted
             and l.database = (select oid from pg_database where datname = current_database())`,
          [id],
        );
        if (holder.rows[0]?.engine) return;
        if ((await this.status(id)) !== 'queued') return;
        await this.failQueued(id, {
          sqlstate: RPC_SQLSTATE.handler,
          message: `rpc ${call.module}.${call.method}: another session of database ${call.database} holds the advisory lock ${id}, which this call needs`,
          hint: 'release it (pg_advisory_unlock_all()) and call again',
        });
        return;
      }
      const claimed = await this.queue().query(
        `update public.rpc_call set status = 'running', started_at = now(), worker_pid = $2 where id = $1 and status = 'queued'`,
        [id, (client as unknown as { processID: number }).processID],
      );
      if (!claimed.rowCount) return; // the caller gave up before it started
      outcome = await this.run(call, locked.rows[0].versions ?? {}, client).catch((err: Error) => {
        broken = err; // the handler was abandoned mid-way: this connection's state is unknown
        // The worker's own timer can fire before the caller's deadline (they start apart, and a
        // busy machine delays either): a timeout is `timed_out` whichever side noticed first.
        const error = toRpcErrorBody(err, `rpc ${call.module}.${call.method}`);
        return { status: error.sqlstate === RPC_SQLSTATE.timedOut ? 'timed_out' : 'failed', error } as Outcome;
      });
    } catch (err) {
      broken = err as Error;
      this.logger.error({ call: id, err: (err as Error).message }, 'rpc call failed inside the engine');
      outcome = { status: 'failed', error: { sqlstate: RPC_SQLSTATE.handler, message: `rpc ${call.module}.${call.method} failed inside the engine` } };
      // Not claimed yet (the lock query failed: the database is damaged or unreachable): the call
      // ends now, with this error, instead of waiting to be tried again and again.
      await this.failQueued(id, {
        sqlstate: RPC_SQLSTATE.unavailable,
        message: `rpc ${call.module}.${call.method}: the engine cannot run calls in database ${call.database}: ${(err as Error).message}`,
        hint: 'the operator should check the engine log; GET /v1/databases/<name> shows the database',
      }).catch(() => undefined);
    } finally {
      await this.settle(call, client, started, outcome, broken, held);
    }
  }

  /**
   * After a call: the history row, then the outcome, then the lock, in this order. A caller learns
   * the outcome either from its status check or once it gets the lock, and then always finds the
   * call's history row. (The handler's open transaction, if any, is rolled back first.) Never
   * throws, and gives the connection back whatever fails: a throw here once left the outcome
   * unstored and the connection held, and the tenant's later calls waited for a free one.
   */
  private async settle(call: QueuedCall, client: PoolClient, started: Date, outcome: Outcome | undefined, broken: Error | undefined, held: boolean): Promise<void> {
    const id = String(call.id);
    let historyWritten = false;
    try {
      if (!broken) {
        await client.query(`rollback; ${outcome ? this.historySql(call, started, outcome) : ''}`).then(
          () => (historyWritten = outcome !== undefined),
          (e: Error) => {
            broken = e;
            this.logger.warn({ call: id, err: e.message }, 'could not write iasql_rpc history');
          },
        );
      }
      if (outcome) await this.finish(id, outcome).catch((e: Error) => this.logger.error({ call: id, err: e.message }, 'could not store the outcome of an rpc call'));
      if (!broken && held) {
        await client.query(`select pg_advisory_unlock(${id}::bigint)`).catch((e: Error) => {
          broken = e; // closing the connection releases the lock
        });
      }
    } catch (err) {
      broken = err as Error;
      this.logger.error({ call: id, err: (err as Error).message }, 'could not finish an rpc call; closing its connection');
    } finally {
      // A broken connection is closed, which also releases the lock.
      client.release(broken);
    }
    // The history row then goes through another connection: every call leaves one.
    if (outcome && !historyWritten) {
      try {
        await this.conns.query(call.database, this.historySql(call, started, outcome));
      } catch (e) {
        this.logger.warn({ call: id, err: (e as Error).message }, 'could not write iasql_rpc history');
      }
    }
  }

  /** Dispatches to the handler of the version installed in the calling database. */
  private async run(call: QueuedCall, installed: Record<string, string>, client: PoolClient): Promise<Outcome> {
    const where = `rpc ${call.module}.${call.method}`;
    const installedVersion = installed[call.module] ?? null;
    try {
      if (installedVersion === null) {
        throw new RpcError(`${where}: module '${call.module}' is not installed in database '${call.database}'`, {
          sqlstate: RPC_SQLSTATE.unknownMethod,
          hint: `install it first: SELECT * FROM iasql_install('${call.module}')`,
        });
      }
      const version = this.registry.get(call.module)?.versions.find((v) => v.version === installedVersion);
      const decl = version?.rpc[call.method];
      if (!version || !decl) {
        throw new RpcError(`${where}: module ${call.module}@${installedVersion} has no rpc method '${call.method}'`, {
          sqlstate: RPC_SQLSTATE.unknownMethod,
          hint: 'SELECT * FROM iasql_help() lists the functions of the installed modules',
        });
      }
      const args = checkArguments(where, decl.args ?? [], call.args);
      const controller = new AbortController();
      const progress = this.progressReporter(String(call.id));
      const running: RunningCall = { call, controller };
      this.inFlight.set(String(call.id), running);
      const timer = setTimeout(
        () => controller.abort(new RpcError(`${where} timed out after ${call.timeout_ms} ms`, { sqlstate: RPC_SQLSTATE.timedOut, hint: TIMEOUT_HINT })),
        call.timeout_ms,
      );
      try {
        const base = {
          database: call.database,
          query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
          logger: this.logger.child({ call: call.id, rpc: `${call.module}.${call.method}`, database: call.database }),
          signal: controller.signal,
          progress: progress.report,
          iasql: undefined as unknown as IasqlApi,
        };
        base.iasql = this.api(call.database, client, base, call.caller, running);
        const ctx = { ...base, dependencies: await dependencyExports(this.registry, version, base, client, installed) };
        const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
        const result = await Promise.race([Promise.resolve().then(() => decl.handler(ctx, args)), aborted]);
        const checked = checkResult(where, decl.returns, result);
        const size = Buffer.byteLength(JSON.stringify(checked ?? null));
        if (this.options.maxResultBytes && size > this.options.maxResultBytes) {
          throw new RpcError(`${where}: the result is ${size} bytes, more than the limit of ${this.options.maxResultBytes} bytes`, {
            sqlstate: RPC_SQLSTATE.badArguments,
            hint: 'ask for less per call (e.g. a narrower query or a page), or the operator raises IASQL_RPC_MAX_RESULT_BYTES',
          });
        }
        return { status: 'succeeded', result: checked };
      } catch (err) {
        // A handler abandoned on abort may still hold the connection: report it as broken.
        if (controller.signal.aborted) throw err;
        return { status: 'failed', error: toRpcErrorBody(err, where) };
      } finally {
        clearTimeout(timer);
        progress.stop();
        this.inFlight.delete(String(call.id));
      }
    } catch (err) {
      // Timed out or cut off by a stop: the handler was abandoned, its connection is closed (execute).
      const abandoned = err instanceof RpcError && (err.options.sqlstate === RPC_SQLSTATE.timedOut || err.options.sqlstate === RPC_SQLSTATE.workerLost);
      if (err instanceof RpcError && !abandoned) return { status: 'failed', error: toRpcErrorBody(err, where) };
      throw err;
    }
  }

  /** Engine operations for a handler; `caller` is the tenant role that made the call (a change set's opened_by). */
  private api(database: string, client: PoolClient, base: Omit<RpcContext, 'dependencies' | 'iasql'>, caller: string, running?: RunningCall): IasqlApi {
    const bind = {
      registry: this.registry,
      database,
      client,
      base,
      caller,
      exportsOf: (v: LoadedVersion, c: PoolClient) => dependencyExports(this.registry, v, { ...base, query: queryOn(c), iasql: this.api(database, c, base, caller, running) }, c),
      logger: this.logger,
      options: this.options.commit,
      // A commit says which change set it applies: a stop names it, and its cut-off hint differs.
      onProgress: (changeSet: number, p: Progress) => {
        if (running) running.changeSet = changeSet;
        base.progress(describeProgress(p));
      },
    };
    return {
      version: ENGINE_VERSION,
      install: (specs) => this.modules.install(database, specs, client),
      uninstall: (names) => this.modules.uninstall(database, names, client),
      upgrade: () => this.modules.upgrade(database, client),
      available: () => this.registry.list().map((m) => ({ name: m.name, latest: m.latest.version, dependencies: m.latest.dependencies })),
      changes: changeSetApi(bind),
    };
  }

  /**
   * Connections to the queue. Its bookkeeping commits without waiting for the WAL flush: it is
   * state of calls in flight, which a server crash ends anyway. Handlers' own writes, on the
   * calling database's connections, keep full durability.
   */
  /** ctx.progress of one call: the latest message is written to its rpc_call row, at most every 500 ms. */
  private progressReporter(id: string) {
    let pending: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let last = 0;
    let stopped = false;
    const flush = () => {
      timer = undefined;
      if (stopped || pending === undefined) return;
      last = Date.now();
      const message = pending;
      pending = undefined;
      this.queue().query(`update public.rpc_call set progress = $2 where id = $1 and status = 'running'`, [id, message]).catch(() => undefined);
    };
    return {
      report: (message: string) => {
        pending = String(message).slice(0, 2000);
        if (timer || stopped) return;
        timer = setTimeout(flush, Math.max(0, 500 - (Date.now() - last)));
        timer.unref();
      },
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  }

  private async status(id: string): Promise<string | undefined> {
    return (await this.queue().query<{ status: string }>('select status from public.rpc_call where id = $1', [id])).rows[0]?.status;
  }

  private queue(): Pool {
    return this.conns.pool(this.metadataDatabase, this.options.concurrency + 5, 'queue', { synchronous_commit: 'off' });
  }

  /** Ends a call that never started, unless its caller already gave up on it. */
  private async failQueued(id: string, error: RpcErrorBody) {
    await this.queue().query(`update public.rpc_call set status = 'failed', error = $2, finished_at = now() where id = $1 and status = 'queued'`, [id, JSON.stringify(error)]);
  }

  private async finish(id: string, outcome: Outcome) {
    await this.queue().query(
      `update public.rpc_call set status = $2, result = $3, error = $4, finished_at = now() where id = $1 and status = 'running'`,
      [id, outcome.status, outcome.status === 'succeeded' ? resultJson(outcome.result) : null, outcome.status === 'succeeded' ? null : JSON.stringify(outcome.error)],
    );
  }

  /**
   * SQL writing the call's iasql_rpc row in its own transaction (history is observability: no WAL
   * flush wait). Values go in as escaped literals, since it shares a round trip with other statements.
   */
  private historySql(call: QueuedCall, started: Date, outcome: Outcome): string {
    const v = (x: string | null) => (x === null ? 'NULL' : literal(x));
    const values = [
      v(String(call.id)),
      v(call.module),
      v(call.method),
      `${v(historyArgs(call.args))}::jsonb`,
      v(call.caller),
      `${v(started.toISOString())}::timestamptz`,
      'now()',
      `${v(outcome.status === 'succeeded' ? historyOutput(outcome.result) : null)}::jsonb`,
      v(outcome.status === 'succeeded' ? null : outcome.error.message),
    ];
    return `begin; set local synchronous_commit = off;
      insert into iasql_engine.iasql_rpc (opid, module_name, method_name, params, caller, start_date, end_date, output, err)
      values (${values.join(', ')});
      commit;`;
  }

  /** Prunes iasql_rpc in every ready database (age and count) and old finished calls in the queue. */
  async prune(): Promise<number> {
    const { historyDays, historyMax } = this.options;
    let removed = 0;
    const dbs = await this.conns.query<{ name: string }>(this.metadataDatabase, `select name from public.managed_database where status = 'ready' and engine_role is not null`);
    for (const { name } of dbs.rows) {
      await this.conns.ensure(name).catch(() => undefined);
      const res = await this.conns
        .query(
          name,
          `delete from iasql_engine.iasql_rpc where start_date < now() - make_interval(days => $1)
              or opid in (select opid from iasql_engine.iasql_rpc order by start_date desc offset $2)`,
          [historyDays, historyMax],
        )
        .catch((err: Error) => {
          this.logger.warn({ database: name, err: err.message }, 'could not prune iasql_rpc');
          return { rowCount: 0 };
        });
      removed += res.rowCount ?? 0;
    }
    await this.conns.query(
      this.metadataDatabase,
      `delete from public.rpc_call where finished_at < now() - make_interval(days => $1)`,
      [historyDays],
    );
    return removed;
  }
}

/** The names of the channels calls are announced on and cancelled through (public.rpc_channel). */
async function rpcChannels(c: import('pg').Client): Promise<{ calls: string; cancels: string }> {
  const { rows } = await c.query<{ calls: string; cancels: string }>('select calls, cancels from public.rpc_channel');
  const channels = rows[0];
  // Checked, since they go into LISTEN unquoted (as identifiers, so its query text names them plainly).
  if (!channels || !/^iasql_rpc_call_[0-9a-f]{32}$/.test(channels.calls) || !/^iasql_rpc_cancel_[0-9a-f]{32}$/.test(channels.cancels)) {
    throw new Error('public.rpc_channel of the metadata database does not name the rpc channels');
  }
  return channels;
}

/** graphile-worker's logs through pino, at debug unless they are warnings or errors. */
export function graphileLogger(logger: Logger) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- its Logger class, not a type
  const { Logger: GraphileLogger } = require('graphile-worker');
  return new GraphileLogger(() => (level: string, message: string) => {
    if (level === 'error') logger.error({ component: 'graphile-worker' }, message);
    else if (level === 'warning') logger.warn({ component: 'graphile-worker' }, message);
    else logger.debug({ component: 'graphile-worker' }, message);
  });
}

/** ctx.query on a given connection. */
const queryOn = (c: PoolClient) => async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[];

/** History keeps results up to 64 KB; a larger one (a 10,000-item scan) is noted, not copied: quoting it cost more than the call. */
const HISTORY_OUTPUT_MAX = 64 * 1024;
/** How long a call waits for a connection to its database before it fails (IQ008: the engine cannot run calls there now). */
const POOL_CONNECT_TIMEOUT_MS = 30_000;
/** Announced calls kept waiting for a fast-path slot; beyond this, their graphile jobs take them. */
const BACKLOG_MAX = 10_000;
/** The hint of a timed-out call, the same as the caller's side gives (sql/user-database). */
const TIMEOUT_HINT = 'raise the limit for this call with SET iasql.rpc_timeout_ms = ...';
/**
 * The arguments as the history keeps them. Never throws: it runs after the handler, where a throw
 * would leave the call's outcome unstored; arguments too deep for JSON.stringify's recursion
 * (refused by checkArguments, so never run) are noted instead of copied.
 */
function historyArgs(args: unknown): string {
  if (args !== null && typeof args === 'object' && argumentsDepth(args) > MAX_ARGUMENT_DEPTH) return JSON.stringify({ omitted: `arguments nested more than ${MAX_ARGUMENT_DEPTH} levels deep are not kept in the history` });
  try {
    return JSON.stringify(args ?? null);
  } catch (err) {
    return JSON.stringify({ omitted: `arguments that cannot be written as JSON are not kept in the history (${(err as Error).message})` });
  }
}

function historyOutput(result: unknown): string | null {
  const json = resultJson(result);
  return json === null || json.length <= HISTORY_OUTPUT_MAX ? json : JSON.stringify({ omitted: `a result of ${json.length} bytes is not kept in the history` });
}

/**
 * A result as stored (rpc_call.result, iasql_rpc.output): no result, or a JSON null, is SQL NULL,
 * so `f(...) IS NULL` holds in SQL for every return type (a jsonb 'null' is not NULL).
 */
function resultJson(result: unknown): string | null {
  return result === null || result === undefined ? null : JSON.stringify(result);
}
