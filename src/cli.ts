#!/usr/bin/env node
import * as fs from 'node:fs';
import { tokenFile } from './admin-token';
import { loadConfig } from './config';
import { startEngine, type Engine } from './engine';
import { IasqlError } from './errors';
import { invokeIsolation, isolationBanner } from './localcloud/lambda-sandbox';
import { createLogger, resolveLogFormat } from './logger';
import { ENGINE_VERSION } from './version';

const USAGE = `iasql ${ENGINE_VERSION}: infrastructure as SQL

Usage:
  iasql start                 start the engine (embedded Postgres unless DATABASE_URL is set)
  iasql db create NAME        create a managed database; prints its connection string once
  iasql db list               list managed databases
  iasql db drop NAME          drop a managed database, its role and its sessions
  iasql db password NAME      give a database's login role a new password; prints the new connection string once
  iasql status                what the engine is doing: queue, and per database its modules, calls and commit
  iasql help                  this text

The db and status commands talk to the REST API at IASQL_API_URL (default http://IASQL_API_HOST:IASQL_API_PORT)
with the token from IASQL_ADMIN_TOKEN or <IASQL_HOME>/admin-token.`;

/** A spinner on stderr while `work` runs; silent when stderr is not a terminal. */
async function withSpinner<T>(label: string, work: Promise<T>, quiet = false): Promise<T> {
  if (!process.stderr.isTTY || quiet) return work;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${label}`), 80);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  }
}

async function start() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  // Signals are handled from the first moment: a Ctrl-C during start-up lets the start finish,
  // then stops everything cleanly, instead of leaving Postgres running.
  let engine: Engine | undefined;
  let stopRequested = false;
  const shutdown = async (signal: string) => {
    if (stopRequested) {
      // A second Ctrl-C: the running calls end now; Postgres and the local cloud still stop cleanly.
      if (engine) logger.info({ signal }, 'stopping now');
      engine?.stopNow();
      return;
    }
    stopRequested = true;
    if (!engine) return; // start() below sees the flag once the engine is up
    logger.info({ signal }, 'shutting down');
    await engine.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // JSON logs on a terminal: no spinner drawn between their lines.
  engine = await withSpinner('starting iasql', startEngine(config, logger), resolveLogFormat(config.logFormat ?? 'auto', true) === 'json');
  if (stopRequested) {
    logger.info('stop requested during start-up: shutting down');
    await engine.stop();
    process.exit(0);
  }

  const pg = `${engine.postgres.host}:${engine.postgres.port}`;
  const lines = [
    `REST API      ${engine.apiUrl}   (OpenAPI: ${engine.apiUrl}/openapi.json)`,
    `Admin token   ${engine.tokenSource === 'IASQL_ADMIN_TOKEN' ? 'from IASQL_ADMIN_TOKEN' : `${engine.tokenSource}   (mode 0600)`}`,
    `Postgres      ${pg}${engine.postgres.embedded ? ` (embedded, data in ${config.home}/pg)` : ''}`,
  ];
  if (engine.localCloud) {
    lines.push(`Local cloud   ${engine.localCloud.endpoint}  (DynamoDB, Lambda, IAM${config.localCloud === 'memory' ? ', in memory' : ''}; an account per database, signed requests only)`);
    lines.push(`              ${isolationBanner(invokeIsolation(config.localCloudInvoke))}`);
  }
  if (engine.firstDatabaseUrlFile) lines.push(`Connect       psql "$(cat ${engine.firstDatabaseUrlFile})"`);
  if (engine.firstDatabaseAwsFile) lines.push(`AWS CLI       . ${engine.firstDatabaseAwsFile} && aws dynamodb list-tables   (that database's local-cloud account)`);
  lines.push(`Stop          Ctrl-C`);
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(`iasql ready api=${engine.apiUrl} postgres=${pg}\n`);
}

function client() {
  const config = loadConfig();
  const base = process.env.IASQL_API_URL ?? `http://${config.apiHost}:${config.apiPort}`;
  let token = config.adminToken;
  if (!token) {
    try {
      token = fs.readFileSync(tokenFile(config.home), 'utf8').trim();
    } catch {
      throw new IasqlError('no_token', `no admin token: set IASQL_ADMIN_TOKEN, or IASQL_HOME to the engine's home (looked in ${tokenFile(config.home)})`);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, shapes in docs/rest-api.md
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new IasqlError('unreachable', `cannot reach the iasql API at ${base}; is 'iasql start' running? (set IASQL_API_URL)`);
    }
    const json: any = res.status === 204 ? undefined : await res.json().catch(() => undefined); // eslint-disable-line @typescript-eslint/no-explicit-any
    if (!res.ok) throw new IasqlError(json?.error?.code ?? 'http_error', `${json?.error?.message ?? res.statusText} (HTTP ${res.status})`);
    return json;
  };
}

async function db(args: string[]) {
  const [sub, name, ...extra] = args;
  const needsName = sub === 'create' || sub === 'drop' || sub === 'password';
  if (!['create', 'list', 'drop', 'password'].includes(sub ?? '') || (needsName && !name) || (!needsName && name) || extra.length) {
    throw new IasqlError('usage', `usage: iasql db create NAME | iasql db list | iasql db drop NAME | iasql db password NAME`);
  }
  const call = client();
  if (sub === 'password') {
    const changed = await withSpinner(`changing the password of ${name}`, call('POST', `/v1/databases/${encodeURIComponent(name)}/password`));
    process.stdout.write(
      `new password for database ${changed.name} (role ${changed.user}); sessions already connected keep working
` +
        `connection string (shown once, keep it safe):
  ${changed.connectionString}
`,
    );
  } else if (sub === 'create') {
    const created = await withSpinner(`creating database ${name}`, call('POST', '/v1/databases', { name }));
    process.stdout.write(
      `created database ${created.name} (role ${created.user})\n` +
        `connection string (shown once, keep it safe):\n  ${created.connectionString}\n` +
        (created.localCloud
          ? `local-cloud account ${created.localCloud.accountId} (for the AWS SDK or CLI with --endpoint-url; shown once):\n` +
            `  AWS_ACCESS_KEY_ID=${created.localCloud.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${created.localCloud.secretAccessKey}\n`
          : ''),
    );
  } else if (sub === 'drop') {
    await withSpinner(`dropping database ${name}`, call('DELETE', `/v1/databases/${encodeURIComponent(name)}`));
    process.stdout.write(`dropped database ${name}\n`);
  } else {
    const { databases } = await withSpinner('listing databases', call('GET', '/v1/databases'));
    if (!databases.length) process.stdout.write('no databases\n');
    const rows = databases.map((d: Record<string, string>) => [d.name, d.user, d.status, d.engineVersion, d.createdAt]);
    if (rows.length) process.stdout.write(table([['NAME', 'USER', 'STATUS', 'ENGINE', 'CREATED'], ...rows]));
  }
}

/** A table of rows, columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

async function status(args: string[]) {
  if (args.length) throw new IasqlError('usage', 'usage: iasql status');
  const s = await withSpinner('asking the engine', client()('GET', '/v1/status'));
  const out = [
    `engine    iasql ${s.engine.version}, pid ${s.engine.pid}, up ${s.engine.uptimeSeconds} s`,
    `queue     ${s.queue.queued} queued, ${s.queue.running} running, ${s.queue.jobs} graphile job${s.queue.jobs === 1 ? '' : 's'}`,
  ];
  process.stdout.write(out.join('\n') + '\n');
  if (!s.databases.length) {
    process.stdout.write('no databases (iasql db create NAME makes one)\n');
    return;
  }
  const rows = s.databases.map((d: { name: string; status: string; modules: string[]; calls: Array<{ status: string }>; commit: { id: number; status: string } | null; problem?: string }) => [
    d.name,
    d.status,
    `${d.calls.filter((c) => c.status === 'running').length} running, ${d.calls.filter((c) => c.status === 'queued').length} queued`,
    d.commit ? `${d.commit.status} (change set ${d.commit.id})` : '-',
    d.problem ? `not served: ${d.problem}` : d.modules.filter((m) => !m.startsWith('iasql_')).join(', ') || '-',
  ]);
  process.stdout.write('\n' + table([['DATABASE', 'STATUS', 'CALLS', 'CHANGE SET', 'MODULES'], ...rows]));
}

async function main(argv: string[]) {
  const [cmd, ...rest] = argv;
  if (cmd === 'start' && rest.length === 0) return start();
  if (cmd === 'db') return db(rest);
  if (cmd === 'status') return status(rest);
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(ENGINE_VERSION + '\n');
    return;
  }
  throw new IasqlError('usage', `unknown command '${argv.join(' ')}'; run 'iasql help'`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`iasql: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
