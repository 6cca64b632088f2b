import { Client } from 'pg';
import { createLogger } from '../src/logger';
import { startTemporaryPostgres } from '../src/postgres/embedded';
import { startTestEngine, stopTestEngine, TestEngine } from './support/engine';
import { freePort } from './support/free-port';
import { FIXTURE_MODULES, install, newDatabase } from './support/modules';
import { connect } from './support/sql';
import { waitFor } from './support/wait';

/**
 * Postgres' NOTIFY queue is one per server: every tenant's notifications share it, and it keeps
 * each until every listening session has read it. A tenant that LISTENs in one session, parks it in
 * a transaction and notifies a lot from another fills it, and then every NOTIFY on the server fails
 * at commit, the rpc fast path's and graphile-worker's alike. This file runs its own Postgres with
 * the smallest queue Postgres allows (64 pages of 8 KB), so a few dozen notifications fill it.
 */

const usage = async (admin: Client) => Number((await admin.query('select pg_notification_queue_usage() as u')).rows[0].u);

/** Notifies 7.9 KB at a time from `c` until the queue is at least `share` full (or `max` tries); errors are the tenant's own. */
async function flood(c: Client, admin: Client, share: number, max = 200): Promise<string[]> {
  const errors: string[] = [];
  for (let i = 0; i < max && (await usage(admin)) < share; i++) {
    await c.query(`select pg_notify('hold', repeat('x', 7900))`).catch((err: Error) => errors.push(err.message));
  }
  return errors;
}

describe('a tenant filling the server-wide NOTIFY queue', () => {
  let pg: Awaited<ReturnType<typeof startTemporaryPostgres>>;
  let engine: TestEngine;
  let admin: Client;
  beforeAll(async () => {
    pg = await startTemporaryPostgres(await freePort(), createLogger('warn'), ['max_notify_queue_pages = 64']);
    engine = await startTestEngine({
      databaseUrl: pg.adminUrl,
      modulePath: [FIXTURE_MODULES],
      // Looked at ten times a second; a tenant transaction open for a second counts as holding it.
      notifyQueueGuard: { checkMs: 100, minTransactionMs: 1000 },
    });
    admin = new Client({ connectionString: pg.adminUrl });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await stopTestEngine(engine);
    await pg?.stop();
  });

  test("its parked listener is ended, the queue drains, and another tenant's calls run", async () => {
    const a = await newDatabase(engine, 'noisy');
    const b = await newDatabase(engine, 'victim');
    await install(engine, b.name, ['fixture_rpc']);
    const parked = await connect(a.url);
    const flooder = await connect(a.url);
    parked.on('error', () => undefined);
    try {
      // The tenant's own defaults would end this in ten minutes: it sets them off, as a hostile one would.
      await parked.query(`set idle_in_transaction_session_timeout = 0; set statement_timeout = 0; listen hold`);
      await parked.query('begin');
      const ended = parked.query('select pg_sleep(120)').then(
        () => 'still parked',
        (err: Error) => err.message,
      );
      await new Promise((r) => setTimeout(r, 1500));
      await flood(flooder, admin, 0.99);
      // Before, nothing ended it: the queue stayed full for the two minutes of its sleep.
      expect(await ended).toBe('terminating connection due to administrator command');
      await waitFor('the queue to drain', async () => ((await usage(admin)) < 0.25 ? true : undefined));
      const t = await connect(b.url);
      try {
        expect((await t.query('select rpc_add(1, 2) as v')).rows).toEqual([{ v: 3 }]);
      } finally {
        await t.end();
      }
      expect(engine.logs()).toMatch(/NOTIFY queue is \d+% full: rpc calls go through graphile-worker jobs instead of announcing themselves; ended 1 tenant session holding a transaction open/);
    } finally {
      await parked.end().catch(() => undefined);
      await flooder.end();
    }
  });

  test('while an operator\'s session holds it nearly full, calls stop announcing themselves (up to 8 KB each) and still run', async () => {
    const a = await newDatabase(engine, 'filler');
    const b = await newDatabase(engine, 'large');
    await install(engine, b.name, ['fixture_rpc']);
    // Not a tenant's: the engine never ends an operator's session, so the queue stays this full.
    const holder = new Client({ connectionString: pg.adminUrl });
    await holder.connect();
    const flooder = await connect(a.url);
    try {
      await holder.query('listen hold');
      await holder.query('begin');
      await holder.query('select 1');
      await flood(flooder, admin, 0.9);
      expect(await usage(admin)).toBeGreaterThanOrEqual(0.9);
      // Ten calls announcing 7 KB each are more than the 6 pages left: before, the later ones
      // failed with "too many notifications in the NOTIFY queue".
      const t = await connect(b.url);
      try {
        for (let i = 0; i < 10; i++) expect((await t.query('select length(rpc_echo($1)) as n', ['y'.repeat(7000)])).rows).toEqual([{ n: 7000 }]);
      } finally {
        await t.end();
      }
      expect(engine.logs()).toMatch(/no tenant session holds a transaction open long enough to be ended: the holder may be an operator or the engine/);
    } finally {
      await holder.end();
      await flooder.end();
    }
  });
});
