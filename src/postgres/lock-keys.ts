/**
 * Every advisory lock key the engine takes, in one place.
 *
 * Advisory locks share one key space per database, and any session may take any key. Postgres has
 * two key forms that never meet: one bigint (pg_locks.objsubid = 1) and a pair of int4s
 * (objsubid = 2). The engine gives each its own use:
 *
 * - **Calls**: the bigint form, whose key is the call id (rpc_call.id), in the calling database.
 *   The worker holds it while the call runs (src/rpc/worker.ts); the caller waits on
 *   pg_advisory_xact_lock(call id) (sql/user-database). Nothing else of the engine uses this form.
 * - **Everything else**: the pair form under one class id, ENGINE_LOCK_CLASS. Each fixed lock has
 *   its own positive second key (ENGINE_LOCKS); the lock of a database name has a negative one
 *   (the name's hashtext with the sign bit set). So no engine lock can equal a call's, nor another.
 *
 * Key values are constants of this file (never tenant text), safe to splice into SQL.
 */

/** The first key of every engine lock but a call's: 'iasq' in ASCII. */
export const ENGINE_LOCK_CLASS = 0x69617371;

/** Second keys of the fixed engine locks: positive, one each. */
export const ENGINE_LOCKS = {
  /** In a managed database: one commit, rollback or sync at a time (src/commit/change-sets.ts). */
  commit: 1,
  /** In the metadata database: engines starting together run its migrations in turn (src/engine.ts). */
  metadataMigrations: 2,
  /** In the metadata database: engines starting together prepare the rpc queue in turn (src/rpc/setup.ts). */
  rpcSetup: 3,
  /** In the metadata database: held shared by every engine that takes calls (src/rpc/liveness.ts, sql/metadata/rpc.sql). */
  engineAlive: 4,
} as const;
export type EngineLock = keyof typeof ENGINE_LOCKS;

/** Arguments of pg_advisory_lock() and its kin for a fixed engine lock, e.g. `1767994225, 1`. */
export const lockArgs = (lock: EngineLock): string => `${ENGINE_LOCK_CLASS}, ${ENGINE_LOCKS[lock]}`;

/**
 * Arguments for the lock of the database named by the SQL expression `name` (a parameter such as
 * `$1`), in the metadata database: the name's hashtext with the sign bit set, so never a fixed
 * lock's key. Two names with the same hash share a lock, which only makes them wait for each other.
 */
export const databaseNameLockArgs = (name: string): string => `${ENGINE_LOCK_CLASS}, pg_catalog.hashtext(${name}) | (-2147483648)::int4`;

/** A pg_locks condition (on alias `l`) for a fixed engine lock, held or awaited. */
export const pgLocksMatch = (lock: EngineLock): string =>
  `l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = ${ENGINE_LOCK_CLASS}::oid AND l.objid = ${ENGINE_LOCKS[lock]}::oid`;

/** A pg_locks condition (on alias `l`) for the lock of the call whose id is the SQL expression `id` (a bigint). */
export const pgLocksMatchCall = (id: string): string =>
  `l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid = (${id} >> 32)::oid AND l.objid = (${id} & 4294967295)::oid`;
