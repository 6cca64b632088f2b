import { escapeIdentifier as ident } from 'pg';
import type { PoolClient } from 'pg';
import type { Logger } from '../logger';
import { RpcError } from '../rpc/errors';
import { lockArgs } from '../postgres/lock-keys';
import { BoundEntity, dependencies, foreignKeys, Operation, parentsFirst, Plan, planChanges, planRows, Touched, touchedRows } from './plan';
import { identity, insertSql, rowJson, updateSql } from './rows';
import { reconcile } from './sync';
import { runTasks, withRetry } from './scheduler';
import type { PlanRow, Row } from './types';

/** Tuning of the apply phase (IASQL_COMMIT_CONCURRENCY and friends). */
export interface CommitOptions {
  /** Operations at once per service and region. */
  concurrency: number;
  /** Attempts per cloud call when the service throttles (the first included). */
  retryAttempts: number;
  retryBaseMs: number;
  retryCapMs: number;
}

export const DEFAULT_COMMIT_OPTIONS: CommitOptions = { concurrency: 10, retryAttempts: 8, retryBaseMs: 100, retryCapMs: 5000 };

/** The commit lock: a session advisory lock in the user database (src/postgres/lock-keys.ts). */
const LOCK = `pg_try_advisory_lock(${lockArgs('commit')})`;
const UNLOCK = `select pg_advisory_unlock(${lockArgs('commit')})`;

interface ChangeSetRow {
  id: number;
  status: 'open' | 'committing' | 'committed' | 'failed' | 'rolled_back';
  opened_at: Date;
  opened_by: string;
  from_audit_id: string;
  to_audit_id: string | null;
}

export interface Progress {
  total: number;
  applied: number;
  running: string[];
}

/** What a failed operation looked like, for the caller, iasql_get_errors and the audit log. */
interface Failure {
  action: string;
  table: string;
  resource: string;
  code: string;
  message: string;
}

/**
 * Change sets of one database, on the connection of the rpc call that asked (which holds the
 * call's lock; the commit lock is taken on it too, so a dead engine releases both).
 */
export class ChangeSets {
  constructor(
    private readonly c: PoolClient,
    private readonly database: string,
    /** Cloud entities of the installed modules, by table. */
    private readonly entities: Map<string, BoundEntity>,
    private readonly logger: Logger,
    private readonly options: CommitOptions = DEFAULT_COMMIT_OPTIONS,
    /** Reports progress of a running commit (throttled by the caller). */
    private readonly onProgress: (changeSet: number, p: Progress) => void = () => undefined,
    /** Who opens change sets here (the rpc call's tenant role); absent: the session's user. */
    private readonly caller?: string,
  ) {}

  async begin(): Promise<{ change_set_id: number; pending_changes: number }> {
    return this.locked('begin', async () => {
      const open = await this.openSet();
      if (open) {
        throw new RpcError(`change set ${open.id} is already open (opened by ${open.opened_by} at ${open.opened_at.toISOString()})`, {
          hint: 'SELECT * FROM iasql_preview() shows it; iasql_commit() applies it, iasql_rollback() discards it',
        });
      }
      const from = await this.consumedUpTo();
      const { rows } = await this.c.query<{ id: number }>(`insert into iasql_engine.iasql_change_set (from_audit_id, opened_by) values ($1, coalesce($2, session_user)) returning id`, [from, this.caller ?? null]);
      await this.audit('BEGIN', null, { change_set: rows[0].id });
      const pending = await this.c.query<{ n: number }>(`select count(*)::int as n from iasql_engine.iasql_audit_log where source = 'user' and id > $1 and change_type in ('INSERT', 'UPDATE', 'DELETE')`, [from]);
      return { change_set_id: rows[0].id, pending_changes: pending.rows[0].n };
    });
  }

  async preview(): Promise<PlanRow[]> {
    const open = await this.requireOpen('preview');
    const plan = await this.plan(open.from_audit_id, await this.lastAuditId());
    return planRows(plan.operations);
  }

  async commit(message: string | null): Promise<PlanRow[]> {
    return this.locked('commit', async () => {
      const open = await this.requireOpen('commit');
      const to = await this.lastAuditId();
      const started = performance.now();
      // Planning only reads: if it fails, the change set stays open as it was.
      const plan = await this.plan(open.from_audit_id, to);
      // From here on the cloud changes: a set left 'committing' without the lock was cut off.
      await this.c.query(`update iasql_engine.iasql_change_set set status = 'committing', to_audit_id = $2, message = $3 where id = $1`, [open.id, to, message]);
      const planned = planRows(plan.operations);
      const fks = await foreignKeys(this.c, [...this.entities.keys()]);
      const deps = dependencies(plan.operations, fks);
      const byKey = new Map(plan.operations.map((o) => [o.key, o]));
      let lastWrite = 0;
      const report = (running: string[], applied: number) => {
        const p = { total: plan.operations.length, applied, running: running.map((k) => `${byKey.get(k)!.action} ${byKey.get(k)!.bound.entity.table} ${byKey.get(k)!.description}`) };
        this.onProgress(open.id, p);
        // For GET /v1/databases/{name}/commits: at most every 500 ms (and the last one at the end).
        if (Date.now() - lastWrite >= 500) {
          lastWrite = Date.now();
          this.c.query(`update iasql_engine.iasql_change_set set progress = $2 where id = $1`, [open.id, JSON.stringify(p)]).catch(() => undefined);
        }
      };
      const plannedAt = performance.now();
      const outcome = await runTasks(
        plan.operations.map((op) => ({ key: op.key, bucket: this.bucket(op), dependsOn: deps.get(op.key)!, run: () => this.apply(op) })),
        () => this.options.concurrency,
        report,
      );
      const results = new Map(outcome.done.map((d) => [d.key, d.result]));

      const appliedAt = performance.now();
      if (outcome.failed.length === 0) {
        await this.transaction('commit', async () => {
          await this.writeBack([
            ...plan.operations.filter((op) => op.action !== 'delete' && results.get(op.key)).map((op) => ({ bound: op.bound, rowId: op.touched.rowId, cloud: results.get(op.key)! })),
            ...plan.unchanged.map((u) => ({ bound: u.bound, rowId: u.touched.rowId, cloud: u.cloud })),
          ]);
          await this.c.query(`update iasql_engine.iasql_change_set set status = 'committed', closed_at = now(), result = $2, progress = $3 where id = $1`, [
            open.id,
            JSON.stringify(planned),
            JSON.stringify({ total: planned.length, applied: planned.length, running: [] }),
          ]);
          await this.audit('COMMIT', message, { change_set: open.id, operations: planned.length });
        });
        const ms = (a: number, b: number) => Math.round(b - a);
        this.logger.info(
          { database: this.database, changeSet: open.id, operations: planned.length, ms: ms(started, performance.now()), planMs: ms(started, plannedAt), applyMs: ms(plannedAt, appliedAt), writeBackMs: ms(appliedAt, performance.now()) },
          'commit applied',
        );
        return planned;
      }

      // Failure: nothing new started; revert what was applied, newest first, then restore the rows.
      const failures: Failure[] = outcome.failed.map((f) => this.failure(byKey.get(f.key)!, f.error));
      const applied = [...outcome.done].sort((a, b) => b.finishedAt - a.finishedAt);
      const left: Failure[] = [];
      for (const d of applied) {
        const op = byKey.get(d.key)!;
        try {
          await this.revert(op, d.result);
        } catch (err) {
          left.push(this.failure(op, err));
        }
      }
      await this.transaction('revert', async () => {
        await this.restoreRows(plan.touched);
        await this.c.query(`update iasql_engine.iasql_change_set set status = 'failed', closed_at = now(), result = $2 where id = $1`, [
          open.id,
          JSON.stringify({ planned, failed: failures, revertFailed: left, skipped: outcome.skipped.length }),
        ]);
        await this.audit('ERROR', message, { change_set: open.id, failed: failures, revert_failed: left });
      });
      const lines = failures.map((f) => `  ${f.action} ${f.table} ${f.resource}: ${f.code}: ${f.message}`);
      const leftLines = left.map((f) => `  ${f.action} ${f.table} ${f.resource}: ${f.code}: ${f.message}`);
      const summary =
        `iasql_commit failed: ${failures.length} of ${plan.operations.length} operation${plan.operations.length === 1 ? '' : 's'} failed` +
        (applied.length ? `; the ${applied.length} applied ${left.length ? `were reverted except ${left.length}` : 'were reverted'}` : '; nothing had been applied') +
        `; the rows are back as they were\n${lines.join('\n')}` +
        (left.length ? `\nstill in the cloud (the revert failed; fix by hand or iasql_sync()):\n${leftLines.join('\n')}` : '');
      this.logger.warn({ database: this.database, changeSet: open.id, failed: failures.length, revertFailed: left.length }, 'commit failed');
      throw new RpcError(summary, {
        detail: failures.map((f) => f.code).join(', '),
        hint: 'fix the rows (your edits are in iasql_audit_log; iasql_get_sql_since() replays them), then iasql_begin() and commit again',
      });
    });
  }

  async rollback(): Promise<PlanRow[]> {
    return this.locked('rollback', async () => {
      const open = await this.openSet(true);
      if (!open) throw new RpcError('no change set is open: there is nothing to roll back', { hint: 'SELECT * FROM iasql_begin() opens one' });
      const to = open.to_audit_id ?? (await this.lastAuditId());
      const touched = await touchedRows(this.c, open.from_audit_id, to);
      const done: PlanRow[] = [];
      await this.transaction('rollback', async () => {
        done.push(...(await this.resetToCloud(touched)));
        await this.c.query(`update iasql_engine.iasql_change_set set status = 'rolled_back', closed_at = now(), to_audit_id = $2, result = $3 where id = $1`, [open.id, to, JSON.stringify(done)]);
        await this.audit('ROLLBACK', null, { change_set: open.id, rows: done.length });
      });
      return done;
    });
  }

  /** iasql_sync / iasql_preview_sync: what the cloud has becomes the rows (or, dry, is only reported). */
  async sync(dryRun: boolean): Promise<PlanRow[]> {
    return this.locked(dryRun ? 'preview_sync' : 'sync', async () => {
      const open = await this.openSet(true);
      if (open && !dryRun) {
        throw new RpcError(`change set ${open.id} is ${open.status === 'open' ? 'open' : 'interrupted'}: sync would overwrite its edits`, {
          hint: 'commit or roll it back first (SELECT * FROM iasql_commit() / iasql_rollback()); iasql_preview_sync() shows the drift without changing anything',
        });
      }
      const all = [...this.entities.keys()];
      return dryRun ? this.reconcile(all, true) : this.transaction('sync', () => this.reconcile(all, false));
    });
  }

  /** Inside an install's transaction (its tables were just created): the rows get what the cloud has. */
  async importFromCloud(tables: string[]): Promise<void> {
    await this.c.query(`select set_config('iasql.source', 'import', true)`);
    try {
      await this.reconcile(tables, false);
    } finally {
      await this.c.query(`select set_config('iasql.source', '', true)`);
    }
  }

  // ---- internals ----

  private reconcile(tables: string[], dryRun: boolean): Promise<PlanRow[]> {
    return reconcile(this.c, this.entities, tables, dryRun, (b, fn) => this.cloudCall(b, fn), this.logger.child({ database: this.database }));
  }

  private async plan(from: string, to: string): Promise<Plan> {
    const touched = await touchedRows(this.c, from, to);
    return planChanges(touched, this.entities, (b, fn) => this.cloudCall(b, fn));
  }

  /** A cloud call with throttling retries. */
  private cloudCall<T>(b: BoundEntity, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      attempts: this.options.retryAttempts,
      baseMs: this.options.retryBaseMs,
      capMs: this.options.retryCapMs,
      signal: b.ctx.signal,
      onRetry: (attempt, delayMs, err) => this.logger.info({ database: this.database, table: b.entity.table, attempt, delayMs: Math.round(delayMs), err: (err as Error).name }, 'throttled; retrying'),
    });
  }

  private bucket(op: Operation): string {
    const e = op.bound.entity;
    const region = e.regionColumn ? String((op.target ?? op.cloud ?? {})[e.regionColumn] ?? '') : '';
    return `${e.service}:${region}`;
  }

  private async apply(op: Operation): Promise<Row | undefined> {
    const { entity, ctx } = op.bound;
    switch (op.action) {
      case 'create':
        return this.cloudCall(op.bound, () => entity.create(ctx, op.target!));
      case 'update':
        return this.cloudCall(op.bound, () => entity.update(ctx, op.target!, op.cloud!));
      case 'replace':
        await this.cloudCall(op.bound, () => entity.delete(ctx, op.cloud!));
        return this.cloudCall(op.bound, () => entity.create(ctx, op.target!));
      case 'delete':
        await this.cloudCall(op.bound, () => entity.delete(ctx, op.cloud!));
        return undefined;
    }
  }

  /** Undoes one applied operation: the cloud goes back to what it had when the plan read it. */
  private async revert(op: Operation, result: Row | undefined): Promise<void> {
    const { entity, ctx } = op.bound;
    switch (op.action) {
      case 'create':
        return this.cloudCall(op.bound, () => entity.delete(ctx, result ?? op.target!));
      case 'update':
        await this.cloudCall(op.bound, () => entity.update(ctx, op.cloud!, result ?? op.target!));
        return;
      case 'replace':
        await this.cloudCall(op.bound, () => entity.delete(ctx, result ?? op.target!));
        await this.cloudCall(op.bound, () => entity.create(ctx, op.cloud!));
        return;
      case 'delete':
        await this.cloudCall(op.bound, () => entity.create(ctx, op.cloud!));
        return;
    }
  }

  private failure(op: Operation, err: unknown): Failure {
    const e = err as { name?: string; code?: string; message?: string };
    return { action: op.action, table: op.bound.entity.table, resource: op.description, code: e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error'), message: e?.message ?? String(err) };
  }

  /** Writes the cloud-owned columns of rows from the cloud's view: one statement per table. */
  private async writeBack(items: Array<{ bound: BoundEntity; rowId: number; cloud: Row }>) {
    const byTable = new Map<string, typeof items>();
    for (const it of items) byTable.set(it.bound.entity.table, [...(byTable.get(it.bound.entity.table) ?? []), it]);
    for (const [table, list] of byTable) {
      const cols = list[0].bound.entity.cloudColumns ?? [];
      if (cols.length === 0) continue;
      // The cloud's view is the truth for these columns (a user's edit of an ARN is undone).
      const data = list.map((it) => ({ ...Object.fromEntries(cols.map((c) => [c, it.cloud[c] ?? null])), id: it.rowId }));
      const t = `public.${ident(table)}`;
      await this.c.query(
        `update ${t} as t set ${cols.map((c) => `${ident(c)} = r.${ident(c)}`).join(', ')}
         from jsonb_populate_recordset(null::${t}, $1::jsonb) r where t.id = r.id`,
        [rowJson(data as unknown as Row)],
      );
    }
  }

  /** After a failed commit: the cloud rows the change set touched go back to how they were before it. */
  private async restoreRows(touched: Touched[]) {
    const cloudRows = touched.filter((t) => this.entities.has(t.table));
    const order = await parentsFirst(this.c, [...new Set(cloudRows.map((t) => t.table))]);
    const pos = (t: string) => order.indexOf(t);
    for (const t of [...cloudRows].sort((a, b) => pos(b.table) - pos(a.table))) {
      if (!t.before && t.after) await this.c.query(`delete from public.${ident(t.table)} where id = $1`, [t.rowId]);
    }
    for (const t of [...cloudRows].sort((a, b) => pos(a.table) - pos(b.table))) {
      if (!t.before) continue;
      const cols = Object.keys(t.before);
      if (t.after) await this.c.query(updateSql(t.table, cols.filter((c) => c !== 'id')), [rowJson(t.before), t.rowId]);
      else await this.c.query(insertSql(t.table, cols), [rowJson(t.before)]);
    }
  }

  /** Rollback: each touched cloud row becomes what the cloud has for it (or goes, if the cloud has nothing). */
  private async resetToCloud(touched: Touched[]): Promise<PlanRow[]> {
    const done: PlanRow[] = [];
    const cloudRows = touched.filter((t) => this.entities.has(t.table));
    const order = await parentsFirst(this.c, [...new Set(cloudRows.map((t) => t.table))]);
    const pos = (t: string) => order.indexOf(t);
    const views = await Promise.all(
      cloudRows.map(async (t) => {
        const b = this.entities.get(t.table)!;
        const ref = t.before ?? t.after!;
        const cloud = await this.cloudCall(b, () => b.entity.read(b.ctx, Object.fromEntries(b.entity.id.map((c) => [c, ref[c]]))));
        return { t, b, cloud };
      }),
    );
    for (const { t, b, cloud } of [...views].sort((x, y) => pos(y.t.table) - pos(x.t.table))) {
      if (!cloud && t.after) {
        await this.c.query(`delete from public.${ident(t.table)} where id = $1`, [t.rowId]);
        done.push({ action: 'delete', table_name: t.table, id: t.rowId, description: identity(b.entity, t.after) });
      }
    }
    for (const { t, b, cloud } of [...views].sort((x, y) => pos(x.t.table) - pos(y.t.table))) {
      if (!cloud) continue;
      const row = { ...(t.before ?? {}), ...cloud, id: t.rowId };
      if (t.after) await this.c.query(updateSql(t.table, Object.keys(row).filter((c) => c !== 'id')), [rowJson(row), t.rowId]);
      else await this.c.query(insertSql(t.table, Object.keys(row)), [rowJson(row)]);
      done.push({ action: t.after ? 'update' : 'create', table_name: t.table, id: t.rowId, description: identity(b.entity, cloud) });
    }
    return done;
  }

  /** Runs `fn` holding the commit lock; a second holder fails at once with what is running. */
  private async locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const { rows } = await this.c.query<{ ok: boolean }>(`select ${LOCK} as ok`);
    if (!rows[0].ok) {
      const running = (await this.c.query<ChangeSetRow>(`select * from iasql_engine.iasql_change_set where status = 'committing' order by id desc limit 1`)).rows[0];
      throw new RpcError(`cannot ${what}: a commit is running in this database${running ? ` (change set ${running.id})` : ''}`, {
        hint: 'wait for it to finish; GET /v1/databases/<name>/commits shows its progress',
      });
    }
    try {
      return await fn();
    } finally {
      await this.c.query(UNLOCK).catch(() => undefined);
    }
  }

  /**
   * The open change set, or undefined. One left 'committing' while nobody holds the commit lock
   * (we do) was cut off by an engine stop: reported, unless `interrupted` is acceptable.
   */
  private async openSet(interruptedOk = false): Promise<ChangeSetRow | undefined> {
    const set = (await this.c.query<ChangeSetRow>(`select * from iasql_engine.iasql_change_set where status in ('open', 'committing') order by id desc limit 1`)).rows[0];
    if (set?.status === 'committing' && !interruptedOk) {
      throw new RpcError(`change set ${set.id} was interrupted while committing (the engine stopped before it finished): the cloud may hold part of it`, {
        hint: 'SELECT * FROM iasql_rollback() brings its rows back to what the cloud has; then begin again',
      });
    }
    return set;
  }

  private async requireOpen(what: string): Promise<ChangeSetRow> {
    const open = await this.openSet();
    if (!open) throw new RpcError(`no change set is open: SELECT * FROM iasql_begin() first, then edit rows and ${what}`);
    return open;
  }

  /** Audit id up to which user changes belong to closed change sets. */
  private async consumedUpTo(): Promise<string> {
    const { rows } = await this.c.query<{ id: string }>(`select coalesce(max(to_audit_id), 0)::text as id from iasql_engine.iasql_change_set where status not in ('open', 'committing')`);
    return rows[0].id;
  }

  private async lastAuditId(): Promise<string> {
    return (await this.c.query<{ id: string }>(`select coalesce(max(id), 0)::text as id from iasql_engine.iasql_audit_log`)).rows[0].id;
  }

  private async audit(changeType: string, message: string | null, change: object) {
    await this.c.query(`insert into iasql_engine.iasql_audit_log (table_name, change_type, change, message, source) values ('iasql_change_set', $1, $2, $3, 'engine')`, [changeType, JSON.stringify(change), message]);
  }

  /** One transaction on the call's connection, its row changes marked with `source` in the audit log. */
  private async transaction<T>(source: string, fn: () => Promise<T>): Promise<T> {
    await this.c.query('begin');
    try {
      await this.c.query(`select set_config('iasql.source', $1, true)`, [source]);
      const result = await fn();
      await this.c.query('commit');
      return result;
    } catch (err) {
      await this.c.query('rollback').catch(() => undefined);
      throw err;
    }
  }
}
