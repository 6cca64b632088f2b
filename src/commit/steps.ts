import { RpcError } from '../rpc/errors';
import type { ForeignKey, Operation } from './plan';
import type { PlanRow, Row } from './types';

/**
 * A plan's operations as the cloud calls that carry them out, each a mapper call on one resource:
 * a create, an update or a delete. A replace is two steps (delete, then create), so what waits for
 * the old resource to go and what waits for the new one to exist can be told apart. A cycle among
 * the rows is broken where a reference may be empty (the row is created without it and updated
 * once the other exists; or a reference is cleared before a delete); a cycle that cannot be broken
 * is refused, naming its rows.
 */
export interface Step {
  key: string;
  op: Operation;
  kind: 'create' | 'update' | 'delete';
  /** What the resource becomes (create, update). */
  target: Row | null;
  /** What the cloud has before this step (update, delete); see `from`. */
  cloud: Row | null;
  /** A step of the same resource whose result is this step's `cloud` (known only once it ran). */
  from?: string;
  /** A step the plan row does not show by itself: a reference set after a create, or cleared before a delete. */
  extra?: 'set-reference' | 'clear-reference';
  dependsOn: string[];
}

export interface Schedule {
  steps: Step[];
  /** What the user sees: one row per operation, and one per extra step. */
  rows: PlanRow[];
}

/** Why one step waits for another: kept so a cycle can be broken at a reference that may be empty. */
interface Edge {
  to: string;
  fk?: ForeignKey;
  /**
   * child: a create/update waits for the parent it references to exist; parent: a delete waits for
   * its children to let go; soft: a create/update waits for the update of its parent, an order
   * that is dropped where it would make a cycle.
   */
  kind: 'same-row' | 'child' | 'parent' | 'soft';
}

const refers = (child: Row | null | undefined, fk: ForeignKey, parent: Row | null | undefined) =>
  !!child && !!parent && fk.childColumns.every((c, i) => child[c] !== null && child[c] !== undefined && child[c] === parent[fk.parentColumns[i]]);

const withoutReference = (row: Row, fk: ForeignKey): Row => ({ ...row, ...Object.fromEntries(fk.childColumns.map((c) => [c, null])) });

export function schedule(ops: Operation[], fks: ForeignKey[]): Schedule {
  const steps: Step[] = [];
  const byKey = new Map<string, Step>();
  const add = (s: Omit<Step, 'key' | 'dependsOn'>): Step => {
    const step = { ...s, key: `s${steps.length + 1}`, dependsOn: [] };
    steps.push(step);
    byKey.set(step.key, step);
    return step;
  };
  for (const op of ops) {
    if (op.action === 'create') add({ op, kind: 'create', target: op.target, cloud: null });
    else if (op.action === 'update') add({ op, kind: 'update', target: op.target, cloud: op.cloud });
    else if (op.action === 'delete') add({ op, kind: 'delete', target: null, cloud: op.cloud });
    else {
      add({ op, kind: 'delete', target: null, cloud: op.cloud });
      add({ op, kind: 'create', target: op.target, cloud: null });
    }
  }

  const edges = new Map<string, Edge[]>(steps.map((s) => [s.key, []]));
  const table = (s: Step) => s.op.bound.entity.table;
  for (const a of steps) {
    for (const b of steps) {
      if (a === b) continue;
      // A row's resource goes (replace, or its old identity) before it is made again.
      if (a.op.touched === b.op.touched && a.kind !== 'delete' && b.kind === 'delete') edges.get(a.key)!.push({ to: b.key, kind: 'same-row' });
      for (const fk of fks) {
        // a makes or changes a child that references what b creates: b first.
        if (fk.child === table(a) && fk.parent === table(b) && a.kind !== 'delete' && b.kind === 'create' && refers(a.target, fk, b.target)) edges.get(a.key)!.push({ to: b.key, fk, kind: 'child' });
        // ... or what b updates (it exists already, but the child may need its new state, e.g. a trust policy): b first unless that makes a cycle.
        if (fk.child === table(a) && fk.parent === table(b) && a.kind !== 'delete' && b.kind === 'update' && refers(a.target, fk, b.target)) edges.get(a.key)!.push({ to: b.key, fk, kind: 'soft' });
        // a deletes a parent that b's child referenced, and b deletes that child or moves it away: b first.
        if (fk.parent === table(a) && fk.child === table(b) && a.kind === 'delete') {
          const parent = a.cloud ?? a.op.touched.before;
          const child = b.cloud ?? b.op.touched.before;
          if (refers(child, fk, parent) && (b.kind === 'delete' || (b.kind === 'update' && !refers(b.target, fk, parent)))) edges.get(a.key)!.push({ to: b.key, fk, kind: 'parent' });
        }
      }
    }
  }

  // Break cycles one reference at a time, where the reference may be empty.
  for (let guard = 0; guard <= steps.length * 2; guard++) {
    const cycle = findCycle(steps, edges);
    if (!cycle) break;
    if (!breakOne(cycle, byKey, edges, add)) throw cycleError(cycle.map((k) => byKey.get(k)!));
  }
  for (const s of steps) s.dependsOn = [...new Set(edges.get(s.key)!.map((e) => e.to))];
  return { steps, rows: planRowsOf(ops, steps) };
}

/**
 * Breaks one edge of the cycle: a child created with its (nullable) reference empty, then updated
 * once the parent exists; or a child's (nullable) reference cleared before its parent is deleted.
 */
function breakOne(cycle: string[], byKey: Map<string, Step>, edges: Map<string, Edge[]>, add: (s: Omit<Step, 'key' | 'dependsOn'>) => Step): boolean {
  const inCycle = new Set(cycle);
  for (const key of cycle) {
    const soft = edges.get(key)!.find((e) => e.kind === 'soft' && inCycle.has(e.to));
    if (soft) {
      edges.set(key, edges.get(key)!.filter((e) => e !== soft));
      return true;
    }
  }
  for (const key of cycle) {
    for (const e of edges.get(key)!) {
      if (!inCycle.has(e.to) || !e.fk?.childNullable) continue;
      const from = byKey.get(key)!;
      if (e.kind === 'child' && from.kind === 'create' && !from.extra) {
        const full = from.target!;
        from.target = withoutReference(full, e.fk);
        // Every wait of this create on a parent through this reference moves to the update.
        const moved = edges.get(key)!.filter((x) => x.kind === 'child' && x.fk === e.fk);
        edges.set(key, edges.get(key)!.filter((x) => !moved.includes(x)));
        const set = add({ op: from.op, kind: 'update', target: full, cloud: null, from: key, extra: 'set-reference' });
        edges.set(set.key, [{ to: key, kind: 'same-row' }, ...moved]);
        return true;
      }
      if (e.kind === 'parent') {
        const child = byKey.get(e.to)!;
        if (child.kind !== 'delete' || !child.cloud) continue;
        const clear = add({ op: child.op, kind: 'update', target: withoutReference(child.cloud, e.fk), cloud: child.cloud, extra: 'clear-reference' });
        edges.set(clear.key, []);
        edges.get(child.key)!.push({ to: clear.key, kind: 'same-row' });
        // The parent's delete now waits for the reference to go, not for the child's delete.
        edges.set(key, edges.get(key)!.map((x) => (x === e ? { to: clear.key, kind: 'parent' } : x)));
        return true;
      }
    }
  }
  return false;
}

/** A cycle among the steps (their keys, in order), or undefined. */
function findCycle(steps: Step[], edges: Map<string, Edge[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (k: string): string[] | undefined => {
    state.set(k, 'open');
    path.push(k);
    for (const e of edges.get(k) ?? []) {
      if (state.get(e.to) === 'open') return path.slice(path.indexOf(e.to));
      if (!state.has(e.to)) {
        const found = visit(e.to);
        if (found) return found;
      }
    }
    path.pop();
    state.set(k, 'done');
    return undefined;
  };
  for (const s of steps) {
    if (state.has(s.key)) continue;
    const found = visit(s.key);
    if (found) return found;
  }
  return undefined;
}

function cycleError(cycle: Step[]): RpcError {
  const rows = [...new Set(cycle.map((s) => `${s.op.action} ${s.op.bound.entity.table} ${s.op.description} (row ${s.op.touched.rowId})`))];
  return new RpcError(`the change set cannot be applied in any order: these rows wait for each other (a cycle of references no order satisfies):\n  ${rows.join('\n  ')}`, {
    hint: 'break the cycle: leave one of the references empty (NULL) in this change set and set it in the next one, or delete and create the rows in separate change sets',
  });
}

function planRowsOf(ops: Operation[], steps: Step[]): PlanRow[] {
  const row = (o: Operation, action: PlanRow['action'], rank: number) => ({
    row: { action, table_name: o.bound.entity.table, id: action === 'delete' ? (o.touched.after ? o.touched.rowId : null) : o.touched.rowId, description: o.description },
    rank,
    o,
  });
  const rank = { delete: 0, replace: 1, update: 2, create: 3 };
  const all = [
    // A reference cleared before a delete shows before it; one set after a create, after it.
    ...steps.filter((s) => s.extra === 'clear-reference').map((s) => row(s.op, 'update', -1)),
    ...ops.map((o) => row(o, o.action, rank[o.action])),
    ...steps.filter((s) => s.extra === 'set-reference').map((s) => row(s.op, 'update', 4)),
  ];
  all.sort((a, b) => a.o.bound.entity.table.localeCompare(b.o.bound.entity.table) || a.o.touched.rowId - b.o.touched.rowId || a.rank - b.rank);
  return all.map((x) => x.row);
}
