import { Client, escapeLiteral as literal } from 'pg';
import { serverUrl, withClient } from './engine';

/**
 * What a hostile tenant's tests need: a log every function the tenant creates writes to, with the
 * role it ran as, and the check that nothing the tenant made ever ran as another role.
 *
 * `public.evil_log` is the tenant's own table, writable by every role, so a function run by the
 * engine (or an admin) logs itself too. A run whose row a rollback took away is still counted:
 * `public.evil_runs` is a sequence, and sequences are not transactional.
 */
export async function prepareEvilLog(t: Client): Promise<void> {
  await t.query(`create table public.evil_log (who text, what text)`);
  await t.query(`grant insert on public.evil_log to public`);
  await t.query(`create sequence public.evil_runs`);
  await t.query(`grant usage on sequence public.evil_runs to public`);
  // The payload of every view and operator: logs, then answers whatever it is asked to.
  await t.query(`create function public.evil(what text) returns integer language plpgsql volatile as $$
    begin ${logRun('what')} return 1; end $$`);
  await t.query(`grant execute on function public.evil(text) to public`);
}

/** The statements a hostile function body starts with (`what`: a SQL expression naming the attack). */
export const logRun = (what: string) =>
  `insert into public.evil_log (who, what) values (current_user, ${what}); perform pg_catalog.nextval('public.evil_runs');`;

/** `logRun` with a constant text. */
export const logRunAs = (what: string) => logRun(literal(what));

/** An admin session of `database` that resolves nothing a tenant made (the checks must not run the tenant's code either). */
export async function adminClient(database: string): Promise<Client> {
  const c = new Client({ connectionString: serverUrl(database), options: '-c search_path=pg_catalog,pg_temp' });
  await c.connect();
  return c;
}

export interface ForeignRuns {
  /** Rows of the log written by any role but the tenant. */
  foreign: Array<{ who: string; what: string }>;
  /** Runs counted by the sequence minus rows in the log: runs a rollback hid. */
  hidden: number;
  /** The tenant role's attributes and memberships, as Postgres has them now. */
  tenant: { rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolbypassrls: boolean; memberOf: string[] };
}

/** What the log says ran as someone else, and what the tenant role can do now. */
export async function foreignRuns(database: string, tenant: string): Promise<ForeignRuns> {
  const a = await adminClient(database);
  try {
    const foreign = (await a.query(`select who, what from public.evil_log where who operator(pg_catalog.<>) $1 order by what`, [tenant])).rows;
    const { rows } = await a.query(
      `select (select case when is_called then last_value else 0 end from public.evil_runs)
              operator(pg_catalog.-) (select count(*) from public.evil_log) as hidden`,
    );
    const role = (
      await a.query(
        `select r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid order by 1) as "memberOf"
         from pg_roles r where r.rolname = $1`,
        [tenant],
      )
    ).rows[0];
    return { foreign, hidden: Number(rows[0].hidden), tenant: role };
  } finally {
    await a.end();
  }
}

/** Nothing the tenant made ran as another role, no run was hidden by a rollback, and the tenant is still a plain role. */
export async function expectNoForeignRuns(database: string, tenant: string): Promise<void> {
  expect(await foreignRuns(database, tenant)).toEqual({
    foreign: [],
    hidden: 0,
    tenant: { rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, memberOf: [] },
  });
}

/** The tenant role of a connection string. */
export const roleOf = (url: string) => decodeURIComponent(new URL(url).username);

/** The engine and queue roles of a managed database (read as the admin from the registry). */
export async function rolesOf(metadataDatabase: string, database: string) {
  return withClient(serverUrl(metadataDatabase), async (m) => {
    const { rows } = await m.query(
      `select role_name as tenant, engine_role as engine, queue_role as queue, queue_password as "queuePassword" from managed_database where name = $1`,
      [database],
    );
    return rows[0] as { tenant: string; engine: string; queue: string; queuePassword: string };
  });
}

/** The metadata database as `database`'s queue role (what its rpc functions enqueue with). */
export async function queueUrl(metadataDatabase: string, database: string): Promise<string> {
  const r = await rolesOf(metadataDatabase, database);
  const u = new URL(serverUrl(metadataDatabase));
  u.username = r.queue;
  u.password = r.queuePassword;
  return u.toString();
}

