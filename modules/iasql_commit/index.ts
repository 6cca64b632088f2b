import { defineModule, RpcMethod } from '../../src/modules/define';

const planShape: RpcMethod['returns'] = {
  table: [
    { name: 'action', type: 'text' },
    { name: 'table_name', type: 'text' },
    { name: 'id', type: 'integer' },
    { name: 'description', type: 'text' },
  ],
};
const LONG = 3_600_000;

/**
 * Change sets: the psql surface of the commit engine (src/commit), with IaSQL's names and shapes.
 * The audit log and change sets are engine tables (iasql_engine); the audit log is filled by a
 * trigger the engine puts on every table of every other module.
 */
export default defineModule({
  name: 'iasql_commit',
  description: 'Audit log and change sets: begin, preview, commit, rollback, sync',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      dependencies: ['iasql_platform'],
      tenantAccess: 'read',
      rpc: {
        iasql_begin: {
          description: 'Opens a change set: edit rows, then iasql_preview() and iasql_commit() (or iasql_rollback())',
          example: 'SELECT * FROM iasql_begin();',
          returns: { table: [{ name: 'change_set_id', type: 'integer' }, { name: 'pending_changes', type: 'integer' }] },
          handler: async (ctx) => [await ctx.iasql.changes.begin()],
        },
        iasql_preview: {
          description: 'What iasql_commit() would do to the cloud, one row per resource; changes nothing',
          example: 'SELECT * FROM iasql_preview();',
          returns: planShape,
          timeoutMs: LONG,
          handler: async (ctx) => ctx.iasql.changes.preview(),
        },
        iasql_commit: {
          description: 'Applies the change set to the cloud in dependency order, writes cloud-generated fields back, and closes it; on failure reverts what it applied',
          example: "SELECT * FROM iasql_commit('create orders table');",
          args: [{ name: 'message', type: 'text', default: null }],
          returns: planShape,
          timeoutMs: LONG,
          handler: async (ctx, args) => ctx.iasql.changes.commit((args.message as string | null) ?? null),
        },
        iasql_rollback: {
          description: 'Discards the change set: the rows it touched go back to what the cloud has',
          example: 'SELECT * FROM iasql_rollback();',
          returns: planShape,
          timeoutMs: LONG,
          handler: async (ctx) => ctx.iasql.changes.rollback(),
        },
        iasql_sync: {
          description: 'Imports what changed in the cloud outside iasql (created, changed, deleted resources) into the rows',
          example: 'SELECT * FROM iasql_sync();',
          returns: planShape,
          timeoutMs: LONG,
          handler: async (ctx) => ctx.iasql.changes.sync(false),
        },
        iasql_preview_sync: {
          description: 'What iasql_sync() would change in the rows (a drift report); changes nothing',
          example: 'SELECT * FROM iasql_preview_sync();',
          returns: planShape,
          timeoutMs: LONG,
          handler: async (ctx) => ctx.iasql.changes.sync(true),
        },
        iasql_get_sql_since: {
          description: 'SQL statements that replay, on a fresh database, the user changes since a time (all when null) that still stand: not those of rolled-back or failed change sets',
          example: "SELECT sql FROM iasql_get_sql_since(now() - interval '1 hour');",
          args: [{ name: 'since', type: 'timestamptz', default: null }],
          returns: { table: [{ name: 'sql', type: 'text' }] },
          handler: async (ctx, args) => (await ctx.iasql.changes.sqlSince((args.since as string | null) ?? null)).map((sql) => ({ sql })),
        },
        iasql_get_sql_for_transaction: {
          description: 'SQL statements that replay the user changes of one transaction (iasql_audit_log.transaction_id) that still stand',
          example: 'SELECT sql FROM iasql_get_sql_for_transaction(123456);',
          args: [{ name: 'transaction_id', type: 'bigint' }],
          returns: { table: [{ name: 'sql', type: 'text' }] },
          handler: async (ctx, args) => (await ctx.iasql.changes.sqlForTransaction(String(args.transaction_id))).map((sql) => ({ sql })),
        },
      },
    },
  ],
});
