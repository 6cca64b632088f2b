import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../logger';
import type { CredentialScope } from './credential-scope';
import { sendAwsError, type LocalService } from './service';

/** The account in every ARN the local cloud hands out (as LocalStack does). */
export const LOCAL_ACCOUNT_ID = '000000000000';

interface DynaliteOptions {
  /** LevelDB directory; unset: in memory. */
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
// dynalite ships no TypeScript declarations; this is the one function used. Loaded with the first
// region that gets a request (~100 ms), not when the engine starts.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = (options: DynaliteOptions): http.Server => (require('dynalite') as (o: DynaliteOptions) => http.Server)(options);

interface RegionalDynalite {
  server: http.Server;
  port: number;
}

/**
 * DynamoDB: one dynalite per region. dynalite keeps a single table namespace whatever the region
 * a request is signed for (a table made in us-east-1 would show up in us-west-2, and the same name
 * could not exist in both), while real DynamoDB tables are regional. So each region gets its own
 * dynalite, started on the region's first request, listening on an ephemeral 127.0.0.1 port, with
 * its own LevelDB directory `<dataDir>/<region>` (or in memory); requests are forwarded to it.
 * Tables change state at once (no CREATING/DELETING/UPDATING delay).
 */
export class LocalDynamoDb implements LocalService {
  private readonly regions = new Map<string, Promise<RegionalDynalite>>();
  private readonly agent = new http.Agent({ keepAlive: true });
  private stopped = false;

  constructor(
    private readonly dataDir: string | undefined,
    private readonly logger: Logger,
  ) {}

  handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, scope: CredentialScope): void {
    this.region(scope.region).then(
      ({ port }) => {
        // The body was read whole before this point: dynalite always gets a complete request,
        // even when the client goes away (an aborted request would throw inside dynalite).
        const headers = { ...req.headers, 'content-length': String(body.length) };
        delete headers['transfer-encoding'];
        const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: this.agent }, (answer) => {
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
        });
        upstream.on('error', (err) => sendAwsError(req, res, 500, 'InternalServerError', `local DynamoDB (${scope.region}) failed: ${err.message}`));
        upstream.end(body);
      },
      (err: Error) => sendAwsError(req, res, 500, 'InternalServerError', `cannot start local DynamoDB for ${scope.region}: ${err.message}`),
    );
  }

  private region(name: string): Promise<RegionalDynalite> {
    let started = this.regions.get(name);
    if (!started) {
      started = this.start(name);
      this.regions.set(name, started);
      started.catch(() => this.regions.delete(name));
    }
    return started;
  }

  private async start(region: string): Promise<RegionalDynalite> {
    if (this.stopped) throw new Error('the local cloud is stopping');
    const dir = this.dataDir && path.join(this.dataDir, region);
    if (dir) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // dynalite writes ARNs with the region and account it finds in the environment when its store
    // is created (synchronously, inside this call); give it this region's.
    const server = withEnv({ AWS_REGION: region, AWS_ACCOUNT_ID: LOCAL_ACCOUNT_ID }, () =>
      dynalite({ path: dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.logger.debug({ region, port, dir: dir ?? 'memory' }, 'local DynamoDB region started');
    return { server, port };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.agent.destroy();
    const started = await Promise.allSettled(this.regions.values());
    this.regions.clear();
    const closed = await Promise.allSettled(
      started.flatMap((r) => (r.status === 'fulfilled' ? [r.value.server] : [])).map((server) => {
        server.closeAllConnections();
        // dynalite's close also closes its LevelDB (releasing the directory's lock).
        return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      }),
    );
    const failed = closed.find((c) => c.status === 'rejected');
    if (failed) throw new Error(`local DynamoDB did not stop cleanly: ${(failed.reason as Error).message}`, { cause: failed.reason });
  }
}

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
