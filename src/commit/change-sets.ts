import { escapeIdentifier as ident } from 'pg';
import type { PoolClient } from 'pg';
import type { Logger } from '../logger';
import { RpcError } from '../rpc/errors';
import { lockArgs } from '../postgres/lock-keys';
import { BoundEntity, foreignKeys, Operation, parentsFirst, Plan, planChanges, Touched, touchedRows } from './plan';
import { identity, idOf, insertManySql, insertSql, matches, rowJson, updateManySql, updateSql } from './rows';
import { schedule, Schedule, Step } from './steps';
import { reconcile } from './sync';
import { THROTTLING_RETRY, withRetry } from './retry';
import { runTasks, TaskOutcome } from './scheduler';
import { isPartlyApplied, type PlanRow, type Row } from './types';

/** Tuning of the apply phase (IASQL_COMMIT_CONCURRENCY and friends). */
export interface CommitOptions {
  /** Operations at once per service and region. */
  concurrency: number;
  /** Attempts per cloud call when the service throttles (the first included). */
  retryAttempts: number;
  retryBaseMs: number;
  retryCapMs: number;
}

export const DEFAULT_COMMIT_OPTIONS: CommitOptions = { concurrency: 10, retryAttempts: THROTTLING_RETRY.attempts, retryBaseMs: THROTTLING_RETRY.baseMs, retryCapMs: THROTTLING_RETRY.capMs };

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

/** What a failed step looked like, for the caller, iasql_get_errors and the audit log. */
interface Failure {
  step: string;
  /** The failed step had changed the resource part-way: undone, left (the undo failed) or unknown (reading it back failed). */
  partly?: 'reverted' | 'left' | 'unknown';
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
    return (await this.plan(open.from_audit_id, await this.lastAuditId())).schedule.rows;
  }

  async commit(message: string | null): Promise<PlanRow[]> {
    return this.locked('commit', async () => {
      const open = await this.requireOpen('commit');
      const to = await this.lastAuditId();
      const started = performance.now();
      // Planning only reads: if it fails (a cycle no order satisfies included), the change set stays open as it was.
      const { plan, schedule: sched } = await this.plan(open.from_audit_id, to);
      // From here on the cloud changes: a set left 'committing' without the lock was cut off.
      await this.c.query(`update iasql_engine.iasql_change_set set status = 'committing', to_audit_id = $2, message = $3 where id = $1`, [open.id, to, message]);
      const planned = sched.rows;
      const byKey = new Map(sched.steps.map((s) => [s.key, s]));
      let lastWrite = 0;
      const report = (running: string[], applied: number) => {
        const p = { total: sched.steps.length, applied, running: running.map((k) => describeStep(byKey.get(k)!)) };
        this.onProgress(open.id, p);
        // For GET /v1/databases/{name}/commits: at most every 500 ms (and the last one at the end).
        if (Date.now() - lastWrite >= 500) {
          lastWrite = Date.now();
          this.c.query(`update iasql_engine.iasql_change_set set progress = $2 where id = $1`, [open.id, JSON.stringify(p)]).catch(() => undefined);
        }
      };
      const plannedAt = performance.now();
      const results = new Map<string, Row | undefined>();
      const outcome = await runTasks(
        sched.steps.map((s) => ({ key: s.key, bucket: this.bucket(s.op), dependsOn: s.dependsOn, run: () => this.applyStep(s, results) })),
        () => this.options.concurrency,
        report,
      );

      const appliedAt = performance.now();
      // Every step ran and succeeded: only then is the change set committed.
      if (outcome.failed.length === 0 && outcome.skipped.length === 0) {
        // Each row gets the cloud's view from its last step that left a resource.
        const last = new Map<Touched, { bound: BoundEntity; cloud: Row; at: number }>();
        for (const d of outcome.done) {
          const s = byKey.get(d.key)!;
          const prev = last.get(s.op.touched);
          if (s.kind !== 'delete' && d.result && (!prev || prev.at <= d.finishedAt)) last.set(s.op.touched, { bound: s.op.bound, cloud: d.result, at: d.finishedAt });
        }
        await this.transaction('commit', async () => {
          await this.writeBack([
            ...[...last].map(([touched, l]) => ({ bound: l.bound, rowId: touched.rowId, cloud: l.cloud })),
            ...plan.unchanged.map((u) => ({ bound: u.bound, rowId: u.touched.rowId, cloud: u.cloud })),
          ]);
          await this.c.query(`update iasql_engine.iasql_change_set set status = 'committed', closed_at = now(), result = $2, progress = $3 where id = $1`, [
            open.id,
            JSON.stringify(planned),
            JSON.stringify({ total: sched.steps.length, applied: sched.steps.length, running: [] }),
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
      return this.failed(open.id, message, plan, sched, outcome);
    });
  }

  /**
   * After a failed commit: what each failed step left in the cloud is read back; what it did
   * part-way and what the other steps applied is reverted, newest first; the rows are restored;
   * the error says what failed, what never started, and exactly what is still in the cloud.
   */
  private async failed(changeSet: number, message: string | null, plan: Plan, sched: Schedule, outcome: TaskOutcome<Row | undefined>): Promise<never> {
    const byKey = new Map(sched.steps.map((s) => [s.key, s]));
    const failures: Failure[] = [];
    const partly: Array<{ step: Step; now: Row | undefined }> = [];
    const left: Failure[] = [];
    for (const f of outcome.failed) {
      const s = byKey.get(f.key)!;
      const after = await this.leftBy(s);
      const failure = this.failure(s, f.error);
      failures.push(failure);
      if (isPartlyApplied(f.error)) {
        // The mapper says what it left that it cannot undo; what the read shows changed is undone below.
        failure.partly = 'left';
        left.push({ ...failure, message: `${f.error.left} (the operation failed after that part went through; it cannot be undone)` });
      }
      if (after.unknown) {
        failure.partly = 'unknown';
        left.push({ ...this.failure(s, after.unknown), message: `it may have made part of the change, and reading it back failed: ${(after.unknown as Error)?.message ?? after.unknown}` });
      } else if (after.changed) {
        failure.partly ??= 'reverted';
        partly.push({ step: s, now: after.now });
      }
    }
    for (const p of partly) {
      try {
        await this.undoPartly(p.step, p.now);
        await this.confirmBack(p.step);
      } catch (err) {
        failures.find((f) => f.step === p.step.key)!.partly = 'left';
        left.push(this.failure(p.step, err));
      }
    }
    const applied = [...outcome.done].sort((a, b) => b.finishedAt - a.finishedAt);
    for (const d of applied) {
      const s = byKey.get(d.key)!;
      try {
        await this.revert(s, d.result);
        await this.confirmBack(s);
        const stays = s.kind === 'update' && s.cloud && s.op.bound.entity.irreversible?.(s.target!, s.cloud);
        if (stays) left.push({ ...this.failure(s, new Error(`${stays} (the rest was reverted; this part cannot be set back)`)), code: 'Irreversible' });
      } catch (err) {
        left.push(this.failure(s, err));
      }
    }
    const notStarted = outcome.skipped.map((k) => describeStep(byKey.get(k)!));
    // The rows go back in the same transaction that closes the change set. If they cannot, it
    // stays 'committing' (as after a crash): iasql_rollback() then sets them to what the cloud has.
    const rowsBack = await this.transaction('revert', async () => {
      await this.restoreRows(plan.touched);
      await this.c.query(`update iasql_engine.iasql_change_set set status = 'failed', closed_at = now(), result = $2 where id = $1`, [
        changeSet,
        JSON.stringify({ planned: sched.rows, failed: failures.map(publicFailure), revertFailed: left.map(publicFailure), notStarted }),
      ]);
      await this.audit('ERROR', message, { change_set: changeSet, failed: failures.map(publicFailure), revert_failed: left.map(publicFailure), not_started: notStarted });
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    const line = (f: Failure) => `  ${f.action} ${f.table} ${f.resource}: ${f.code}: ${f.message}`;
    const note = { reverted: ' (it had made part of the change: reverted)', left: ' (it had made part of the change: see below)', unknown: ' (it may have made part of the change: see below)' };
    const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
    const undone = [applied.length ? `the ${applied.length} applied` : '', partly.length ? `${partly.length} partly applied` : ''].filter(Boolean).join(' and ');
    const summary =
      `iasql_commit failed: ${failures.length} of ${plural(sched.rows.length, 'operation')} failed` +
      (notStarted.length ? `, ${notStarted.length} did not start` : '') +
      (undone ? `; ${undone} ${left.length ? `were reverted except ${left.length}` : 'were reverted'}` : left.length ? '' : '; nothing had been applied') +
      (rowsBack ? `; the rows could NOT be put back (${rowsBack.message}): SELECT * FROM iasql_rollback() sets them to what the cloud has` : '; the rows are back as they were') +
      `\n${failures.map((f) => line(f) + (f.partly ? note[f.partly] : '')).join('\n')}` +
      (outcome.failed.length === 0 ? `\nno order could run them all` : '') +
      (notStarted.length ? `\nnot started (they waited for a failed one):\n${notStarted.map((d) => `  ${d}`).join('\n')}` : '') +
      (left.length ? `\nstill in the cloud (the revert failed; fix by hand or iasql_sync()):\n${left.map(line).join('\n')}` : '');
    this.logger.warn({ database: this.database, changeSet, failed: failures.length, notStarted: notStarted.length, revertFailed: left.length }, 'commit failed');
    // A failed change set's edits are thrown away (replays leave them out): say where they still are.
    const range = (await this.c.query<{ f: string; t: string }>(`select from_audit_id as f, to_audit_id as t from iasql_engine.iasql_change_set where id = $1`, [changeSet])).rows[0];
    throw new RpcError(summary, {
      detail: failures.map((f) => f.code).join(', ') || 'NotStarted',
      hint: `${rowsBack ? 'SELECT * FROM iasql_rollback() first; then ' : ''}fix and redo your edits, then iasql_begin() and commit again; iasql_audit_log keeps the ones thrown away (WHERE source = 'user' AND id > ${range.f} AND id <= ${range.t})`,
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

  /** The plan of the change set and the steps that carry it out (refused here if no order can). */
  private async plan(from: string, to: string): Promise<{ plan: Plan; schedule: Schedule }> {
    const touched = await touchedRows(this.c, from, to);
    const plan = await planChanges(touched, this.entities, (b, fn) => this.cloudCall(b, fn));
    const fks = plan.operations.length ? await foreignKeys(this.c, [...this.entities.keys()]) : [];
    return { plan, schedule: schedule(plan.operations, fks) };
  }

  /** A cloud call with throttling retries (`canRetry` may refuse one, e.g. when a retry would repeat work). */
  private cloudCall<T>(b: BoundEntity, fn: () => Promise<T>, canRetry?: (err: unknown) => Promise<boolean>): Promise<T> {
    return withRetry(fn, {
      attempts: this.options.retryAttempts,
      baseMs: this.options.retryBaseMs,
      capMs: this.options.retryCapMs,
      signal: b.ctx.signal,
      canRetry,
      onRetry: (attempt, delayMs, err) => this.logger.info({ database: this.database, table: b.entity.table, attempt, delayMs: Math.round(delayMs), err: (err as Error).name }, 'throttled; retrying'),
    });
  }

  private bucket(op: Operation): string {
    const e = op.bound.entity;
    const region = e.regionColumn ? String((op.target ?? op.cloud ?? {})[e.regionColumn] ?? '') : '';
    return `${e.service}:${region}`;
  }

  /**
   * Runs one step. A throttled step is tried again only when reading the resource back shows
   * the failed attempt changed nothing (a mapper step may be several cloud calls: repeating one
   * that got half-way would repeat its first calls).
   */
  private async applyStep(s: Step, results: Map<string, Row | undefined>): Promise<Row | undefined> {
    if (s.from) s.cloud = results.get(s.from) ?? s.cloud;
    const { entity, ctx } = s.op.bound;
    const once = async () => {
      switch (s.kind) {
        case 'create':
          return entity.create(ctx, s.target!);
        case 'update':
          return entity.update(ctx, s.target!, s.cloud!);
        case 'delete':
          await entity.delete(ctx, s.cloud!);
          return undefined;
      }
    };
    const result = await this.cloudCall(s.op.bound, once, async () => {
      const after = await this.leftBy(s);
      return !after.changed && !after.unknown;
    });
    results.set(s.key, result);
    return result;
  }

  /**
   * What a failed step left: the resource read back at its identity, and whether that differs
   * from what the cloud had before the step (or `unknown`, the error reading it back).
   */
  private async leftBy(s: Step): Promise<{ changed: boolean; now?: Row; unknown?: unknown }> {
    const { entity, ctx } = s.op.bound;
    const before = s.kind === 'create' ? undefined : (s.cloud ?? undefined);
    try {
      const now = await this.cloudCall(s.op.bound, () => entity.read(ctx, idOf(entity, s.kind === 'delete' ? s.cloud! : s.target!)));
      const changed = before === undefined ? now !== undefined : now === undefined || !matches(entity, before, now);
      return { changed, now };
    } catch (unknown) {
      return { changed: false, unknown };
    }
  }

  /** After an undo: reads the resource back and throws unless it is as it was before the step (what a revert reports is what the cloud shows). */
  private async confirmBack(s: Step): Promise<void> {
    const after = await this.leftBy(s);
    if (after.unknown) throw Object.assign(new Error(`reverted, but reading it back failed: ${(after.unknown as Error)?.message ?? after.unknown}`), { name: 'RevertUnconfirmed' });
    if (after.changed) throw Object.assign(new Error(`reverted, but the cloud still shows ${after.now ? 'a resource that differs from before the commit' : 'no resource where there was one'}`), { name: 'RevertIncomplete' });
  }

  /** Undoes what a failed step did part-way: the resource goes back to what it was before the step. */
  private async undoPartly(s: Step, now: Row | undefined): Promise<void> {
    const { entity, ctx } = s.op.bound;
    if (s.kind === 'create') await this.cloudCall(s.op.bound, () => entity.delete(ctx, now!));
    else if (now === undefined) await this.cloudCall(s.op.bound, () => entity.create(ctx, s.cloud!));
    else await this.cloudCall(s.op.bound, () => entity.update(ctx, s.cloud!, now));
  }

  /** Undoes one applied step: the cloud goes back to what it had before it. */
  private async revert(s: Step, result: Row | undefined): Promise<void> {
    const { entity, ctx } = s.op.bound;
    if (s.kind === 'create') await this.cloudCall(s.op.bound, () => entity.delete(ctx, result ?? s.target!));
    else if (s.kind === 'update') await this.cloudCall(s.op.bound, () => entity.update(ctx, s.cloud!, result ?? s.target!));
    else await this.cloudCall(s.op.bound, () => entity.create(ctx, s.cloud!));
  }

  private failure(s: Step, err: unknown): Failure {
    const e = err as { name?: string; code?: string; message?: string };
    return {
      step: s.key,
      action: s.extra ? 'update' : s.op.action,
      table: s.op.bound.entity.table,
      resource: s.op.description,
      code: e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error'),
      message: e?.message ?? String(err),
    };
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
      await this.c.query(updateManySql(table, cols), [rowJson(data as unknown as Row)]);
    }
  }

  /**
   * After a failed commit: the cloud rows the change set touched go back to how they were before
   * it. One statement per table and kind (foreign keys are checked per statement, so rows of a
   * table that reference each other go back together): new rows go, children first; deleted rows
   * come back, parents first; changed rows are set back.
   */
  private async restoreRows(touched: Touched[]) {
    const cloudRows = touched.filter((t) => this.entities.has(t.table));
    const order = await parentsFirst(this.c, [...new Set(cloudRows.map((t) => t.table))]);
    const of = (table: string, pick: (t: Touched) => boolean) => cloudRows.filter((t) => t.table === table && pick(t));
    for (const table of [...order].reverse()) {
      const gone = of(table, (t) => !t.before && !!t.after).map((t) => t.rowId);
      if (gone.length) await this.c.query(`delete from public.${ident(table)} where id = any($1::int[])`, [gone]);
    }
    for (const table of order) {
      const back = of(table, (t) => !!t.before && !t.after).map((t) => t.before!);
      if (back.length) await this.c.query(insertManySql(table, Object.keys(back[0])), [rowJson(back as unknown as Row)]);
    }
    for (const table of order) {
      const changed = of(table, (t) => !!t.before && !!t.after).map((t) => ({ ...t.before!, id: t.rowId }));
      if (changed.length) await this.c.query(updateManySql(table, Object.keys(changed[0]).filter((c) => c !== 'id')), [rowJson(changed as unknown as Row)]);
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

/** A step as people read it: `create dynamo_table orders|us-east-1`. */
function describeStep(s: Step): string {
  return `${s.extra ? 'update' : s.op.action} ${s.op.bound.entity.table} ${s.op.description}`;
}

/** A failure as stored and audited (without the engine's step key). */
function publicFailure({ step: _step, ...f }: Failure) {
  return f;
}
