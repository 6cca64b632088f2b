import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { strToU8, zipSync } from 'fflate';
import type { LocalAccount, LocalCloud } from '../../src/localcloud';

/** An access key pair: an account's, or a made-up one. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}
/** Where a local cloud listens: a LocalCloud, or an engine's `localCloud`. */
type Endpoint = Pick<LocalCloud, 'endpoint'>;

const keyOf = ({ accessKeyId, secretAccessKey }: Credentials): Credentials => ({ accessKeyId, secretAccessKey });
const made: Array<{ destroy(): void }> = [];
afterAll(() => made.forEach((c) => c.destroy()));

let accounts = 0;
/** A new account on `cloud`, labelled `label` (default: a label of its own). */
export const newAccount = (cloud: LocalCloud, label = `test-account-${process.pid}-${++accounts}`): Promise<LocalAccount> => cloud.accounts.create(label);

/**
 * An account written into `<dataDir>/accounts.json` before a local cloud starts there: for a local
 * cloud inside an `iasql start` child process, whose accounts API a test cannot call.
 */
export function seedAccount(dataDir: string, label: string): LocalAccount {
  const account: LocalAccount = { label, accountId: '123456789012', accessKeyId: 'AKIASEEDEDFORTESTS01', secretAccessKey: 'seeded/secret/for/tests/only/0123456789a' };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dataDir, 'accounts.json'), JSON.stringify({ version: 1, accounts: [account] }), { mode: 0o600 });
  return account;
}

/** The real AWS SDK clients, pointed at the local cloud, signing with `account`'s key. No retries: errors show at once. */
export function lambdaClient(cloud: Endpoint, account: Credentials, region = 'us-east-1'): LambdaClient {
  const client = new LambdaClient({ region, endpoint: cloud.endpoint, credentials: keyOf(account), maxAttempts: 1 });
  made.push(client);
  return client;
}
export function iamClient(cloud: Endpoint, account: Credentials, region = 'us-east-1'): IAMClient {
  const client = new IAMClient({ region, endpoint: cloud.endpoint, credentials: keyOf(account), maxAttempts: 1 });
  made.push(client);
  return client;
}
export function dynamoClient(cloud: Endpoint, account: Credentials, region = 'us-east-1'): DynamoDBClient {
  const client = new DynamoDBClient({ region, endpoint: cloud.endpoint, credentials: keyOf(account), maxAttempts: 1 });
  made.push(client);
  return client;
}

/**
 * A DynamoDB client of `region` at `endpoint` (an engine's local cloud) signing with
 * `credentials` (a database's local cloud key), one per endpoint, region and key, closed after
 * the file's tests.
 */
const dynamoClients = new Map<string, DynamoDBClient>();
export function dynamoClientAt(endpoint: string, region = 'us-east-1', credentials: Credentials = { accessKeyId: 'AKIANOACCOUNT', secretAccessKey: 'none' }): DynamoDBClient {
  const key = `${endpoint} ${region} ${credentials.accessKeyId}`;
  let client = dynamoClients.get(key);
  if (!client) {
    client = new DynamoDBClient({ region, endpoint, credentials: keyOf(credentials) });
    dynamoClients.set(key, client);
    made.push(client);
  }
  return client;
}

/**
 * The AWS CLI (`aws ... --output json`, parsed) against `endpoint`, with `credentials` in its
 * environment and no profile or config of the machine's user in the way.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's JSON answers
export function awsCli(endpoint: string, credentials: Credentials, region = 'us-east-1'): (...args: string[]) => Promise<any> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))),
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_CONFIG_FILE: path.join(os.tmpdir(), 'iasql-no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(os.tmpdir(), 'iasql-no-aws-credentials'),
    AWS_PAGER: '',
  };
  return async (...args) => {
    const { stdout } = await promisify(execFile)('aws', [...args, '--endpoint-url', endpoint, '--region', region, '--output', 'json'], { env, timeout: 30_000 });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  };
}

/** What an AWS CLI command failed with: its exit code and the error line it printed. */
export async function awsCliFailure(call: Promise<unknown>): Promise<{ code: number; stderr: string }> {
  const outcome = await call.then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  if (!outcome) throw new Error('expected the AWS CLI command to fail');
  return { code: outcome.code, stderr: outcome.stderr };
}

export interface RawRequest {
  method?: string;
  /** Path and query, as sent. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}
export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request exactly as given (node:http: the Host header too), for what SDKs never send. */
export function rawRequest(endpoint: string, r: RawRequest): Promise<RawAnswer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: r.method ?? 'POST', path: r.path ?? '/', headers: r.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** node:crypto in the shape @smithy/signature-v4 takes. */
class Sha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

const bytes = (d: SourceData): string | Buffer =>
  typeof d === 'string' ? d : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);

export interface SigningRequest extends RawRequest {
  service: string;
  region?: string;
  /** Default: the endpoint's host. */
  host?: string;
  signingDate?: Date;
  /** Send x-amz-content-sha256, as the SDK does (default); false: hash the body into the signature only, as botocore does. */
  applyChecksum?: boolean;
}

/** The AWS SDK's own SigV4 signer (@smithy/signature-v4), for requests of any shape. */
export const sdkSigner = (credentials: Credentials, service: string, region = 'us-east-1', applyChecksum?: boolean) =>
  new SignatureV4({ service, region, credentials: keyOf(credentials), sha256: Sha256, applyChecksum });

/**
 * The headers of `r` signed (Authorization header form) by the AWS SDK's own SigV4 signer with
 * `credentials`: a request as an SDK would send it, but of any shape.
 */
export async function signedHeaders(endpoint: string, credentials: Credentials, r: SigningRequest): Promise<Record<string, string>> {
  const [pathname, search = ''] = (r.path ?? '/').split('?');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) query[k] = k in query ? [query[k], v].flat() : v;
  const host = r.host ?? new URL(endpoint).host;
  const signed = await sdkSigner(credentials, r.service, r.region, r.applyChecksum).sign(
    { method: r.method ?? 'POST', protocol: 'http:', hostname: host, path: pathname, query, headers: { host, ...r.headers }, body: r.body },
    { signingDate: r.signingDate },
  );
  return signed.headers as Record<string, string>;
}

/** Signs `r` with `credentials` and sends it. */
export async function signedRequest(endpoint: string, credentials: Credentials, r: SigningRequest): Promise<RawAnswer> {
  return rawRequest(endpoint, { ...r, headers: await signedHeaders(endpoint, credentials, r) });
}

/** TCP sockets this process listens on (from /proc). DynamoDB stores listen on none (openStores counts them). */
export function listeningSockets(): number {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A: LISTEN; column 9: the inode.
      if (cols[3] === '0A' && inodes.has(cols[9])) count++;
    }
  }
  return count;
}

/**
 * DynamoDB stores open in this process under `dir` (a local cloud's data directory): each open
 * store holds its LevelDB's LOCK file open. The stores listen on nothing, so this is how to count them.
 */
export function openStores(dir: string): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + path.sep) && target.endsWith(`${path.sep}LOCK`)) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** A deployment package: file name -> source. */
export const zip = (files: Record<string, string>): Uint8Array => zipSync(Object.fromEntries(Object.entries(files).map(([name, src]) => [name, strToU8(src)])));

/**
 * A zip of one file of `size` zero bytes, deflated by zlib on its thread pool: fflate would take
 * seconds for 250 MB on this event loop, which the local cloud under test shares.
 */
export async function zipOfZeros(name: string, size: number): Promise<Buffer> {
  const data = Buffer.alloc(size);
  const deflated = await promisify(zlib.deflateRaw)(data, { level: 1 });
  const crc = zlib.crc32(data);
  const file = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0); // local file header
  local.writeUInt16LE(20, 4); // version needed
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(deflated.length, 18);
  local.writeUInt32LE(size, 22);
  local.writeUInt16LE(file.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0); // central directory header
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(deflated.length, 20);
  central.writeUInt32LE(size, 24);
  central.writeUInt16LE(file.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + file.length, 12);
  end.writeUInt32LE(local.length + file.length + deflated.length, 16);
  return Buffer.concat([local, file, deflated, central, file, end]);
}

export const trustPolicy = (service = 'lambda.amazonaws.com') =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });

/** Creates a role of `account` that Lambda may assume and returns its ARN. */
export async function lambdaRole(cloud: Endpoint, account: Credentials, name = 'lambda-exec'): Promise<string> {
  const { Role } = await iamClient(cloud, account).send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy() }));
  return Role!.Arn!;
}

/** Process ids of this process's children that run the Lambda bootstrap (the warm instances). */
export function lambdaChildren(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('lambda-child')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Whether a process exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `check` holds, polling every 20 ms, or fails after `ms`. */
export async function eventually(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
