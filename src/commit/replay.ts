import { escapeIdentifier as ident, escapeLiteral as literal } from 'pg';
import type { PoolClient } from 'pg';
import type { Row } from './types';

interface AuditRow {
  table_name: string;
  change_type: 'INSERT' | 'UPDATE' | 'DELETE';
  change: { original: Row | null; change: Row | null };
}

/**
 * The user's changes that still stand (`a` is iasql_audit_log): not the engine's writes (install,
 * import, commit write-back, revert, rollback, sync), and not the edits of a change set that was
 * thrown away: rolled back, or failed and reverted. A change set holds every user change after the
 * one before it closed, so edits made before iasql_begin() go with the change set they end up in;
 * until then (no begin yet, or a set still open) they stand.
 */
const STANDING_USER_CHANGE = `a.source = 'user' and a.change_type in ('INSERT', 'UPDATE', 'DELETE')
  and not exists (select 1 from iasql_engine.iasql_change_set s
                  where s.status in ('rolled_back', 'failed') and a.id > s.from_audit_id and a.id <= s.to_audit_id)`;

/**
 * SQL that replays the user changes that still stand on another database with the same modules:
 * INSERTs without the engine-owned id, UPDATEs and DELETEs that find the row by its cloud identity
 * (or, for tables without one, by every column it had). Every name is quoted and every value a
 * literal; values are cast through jsonb_populate_record, so any column type round-trips.
 */
export async function replaySql(c: PoolClient, where: { since?: string | null; transactionId?: string }, idColumns: (table: string) => string[] | undefined): Promise<string[]> {
  const params: unknown[] = [];
  let filter = STANDING_USER_CHANGE;
  if (where.since) filter += ` and a.ts >= $${params.push(where.since)}::timestamptz`;
  if (where.transactionId !== undefined) filter += ` and a.transaction_id = $${params.push(where.transactionId)}::bigint`;
  const { rows } = await c.query<AuditRow>(`select a.table_name, a.change_type, a.change from iasql_engine.iasql_audit_log a where ${filter} order by a.id`, params);
  return rows.map((r) => statement(r, idColumns(r.table_name)));
}

function statement(r: AuditRow, ids: string[] | undefined): string {
  const t = ident(r.table_name);
  const { original, change } = r.change;
  const values = (row: Row) => `jsonb_populate_record(null::${t}, ${literal(JSON.stringify(row))}::jsonb)`;
  const locate = (row: Row) => {
    const cols = ids ?? Object.keys(row).filter((k) => k !== 'id');
    return cols.map((k) => `${ident(k)} is not distinct from (select ${ident(k)} from ${values(row)})`).join(' and ');
  };
  if (r.change_type === 'INSERT') {
    const cols = Object.keys(change!).filter((k) => k !== 'id').map(ident).join(', ');
    return `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${values(change!)};`;
  }
  if (r.change_type === 'DELETE') return `DELETE FROM ${t} WHERE ${locate(original!)};`;
  const changed = Object.keys(change!).filter((k) => k !== 'id' && JSON.stringify(change![k]) !== JSON.stringify(original![k]));
  const cols = changed.map(ident).join(', ');
  return `UPDATE ${t} SET (${cols}) = (SELECT ${cols} FROM ${values(change!)}) WHERE ${locate(original!)};`;
}
