import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { BoundedPool } from './bounded-pool';
import { startDynalite, type Dynalite } from './dynalite';
import { scratchDir } from './files';
import { sendAwsError, type AuthenticatedRequest, type LocalService } from './service';

/** dynalites open at once by default: each holds a listening socket and a LevelDB's files. */
export const DEFAULT_MAX_OPEN_DYNAMODB = 32;
/**
 * dynalite answers CreateTable, DeleteTable and UpdateTable first and writes the table's new state
 * on a timer right after (createTableMs 0): an instance closed in between would leave the table
 * CREATING (or DELETING) for good. So an instance is closed only once idle this long.
 */
const AFTERWORK_MS = 200;

/**
 * DynamoDB: one dynalite per account and region, each with its own LevelDB directory
 * `<dataDir>/<accountId>/<region>`. dynalite keeps a single table namespace whatever a request
 * is signed for, while DynamoDB tables belong to an account and a region; so each pair gets its
 * own dynalite, and an account can only ever reach its own. Requests are forwarded to it over
 * 127.0.0.1. At most `maxOpen` are open at once: the least recently used idle one is closed and
 * reopened from its directory on demand. Without a data directory the LevelDBs live in a
 * temporary directory removed on stop (an in-memory store could not be closed and reopened).
 * Tables change state at once (no CREATING/DELETING/UPDATING delay).
 */
export class LocalDynamoDb implements LocalService {
  private readonly pool: BoundedPool<Dynalite>;
  /** Accounts being removed or gone: nothing of theirs is opened again. */
  private readonly removed = new Set<string>();
  private scratch: string | undefined;

  constructor(
    private readonly dataDir: string | undefined,
    private readonly logger: Logger,
    maxOpen = DEFAULT_MAX_OPEN_DYNAMODB,
  ) {
    this.pool = new BoundedPool<Dynalite>(maxOpen, (key) => this.open(key), (dynalite) => dynalite.close(), AFTERWORK_MS);
  }

  /** dynalites open right now (each listens on a socket). */
  get openInstances(): number {
    return this.pool.size;
  }

  handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, { account, region }: AuthenticatedRequest): void {
    this.pool.use(`${account.accountId}/${region}`, (dynalite) => this.forward(req, body, res, dynalite)).catch((err: Error) => {
      this.logger.error({ err: err.message, accountId: account.accountId, region }, 'local DynamoDB request failed');
      sendAwsError(req, res, 500, 'InternalServerError', `local DynamoDB (${region}) failed: ${err.message}`);
    });
  }

  /**
   * Passes the request to `dynalite` and its answer back; settles once the exchange
   * is over, so the dynalite is not closed under it. The body was read whole before this point:
   * dynalite always gets a complete request, even when the client goes away (an aborted request
   * would throw inside dynalite).
   */
  private forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, { port, agent }: Dynalite): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
        // A client that went away stops reading: drain the answer anyway so the exchange ends.
        res.on('close', () => answer.resume());
        answer.on('close', resolve);
      });
      upstream.on('error', reject);
      upstream.end(body);
    });
  }

  private open(key: string): Promise<Dynalite> {
    const [accountId, region] = key.split('/');
    if (this.removed.has(accountId)) return Promise.reject(new Error(`account ${accountId} was removed`));
    return startDynalite(path.join(this.root(), accountId, region), accountId, region, this.logger);
  }

  private root(): string {
    return this.dataDir ?? (this.scratch ??= scratchDir('iasql-dynamodb-'));
  }

  async removeAccount(accountId: string): Promise<void> {
    this.removed.add(accountId);
    await this.pool.drop((key) => key.startsWith(`${accountId}/`));
    if (this.dataDir || this.scratch) fs.rmSync(path.join(this.root(), accountId), { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    await this.pool.stop();
    if (this.scratch) fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}
