import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { strToU8, zipSync } from 'fflate';
import type { LocalCloud } from '../../src/localcloud';

// The SDK warns once per process that its 2027 releases need Node 22 (see platform notes).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const credentials = { accessKeyId: 'AKIALOCAL', secretAccessKey: 'anything' };
const made: Array<{ destroy(): void }> = [];
afterAll(() => made.forEach((c) => c.destroy()));

/** The real AWS SDK clients, pointed at the local cloud, with a made-up key. No retries: errors show at once. */
export function lambdaClient(cloud: LocalCloud, region = 'us-east-1'): LambdaClient {
  const client = new LambdaClient({ region, endpoint: cloud.endpoint, credentials, maxAttempts: 1 });
  made.push(client);
  return client;
}
export function iamClient(cloud: LocalCloud): IAMClient {
  const client = new IAMClient({ region: 'us-east-1', endpoint: cloud.endpoint, credentials, maxAttempts: 1 });
  made.push(client);
  return client;
}

/** A DynamoDB client of `region` at `endpoint` (an engine's local cloud), one per region, closed after the file's tests. */
const dynamoClients = new Map<string, DynamoDBClient>();
export function dynamoClientAt(endpoint: string, region = 'us-east-1'): DynamoDBClient {
  const key = `${endpoint} ${region}`;
  let client = dynamoClients.get(key);
  if (!client) {
    client = new DynamoDBClient({ region, endpoint, credentials });
    dynamoClients.set(key, client);
    made.push(client);
  }
  return client;
}

/**
 * The AWS CLI (`aws ... --output json`, parsed) against `endpoint`: dummy credentials, and no
 * profile or config of the machine's user in the way.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's JSON answers
export function awsCli(endpoint: string): (...args: string[]) => Promise<any> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))),
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_CONFIG_FILE: path.join(os.tmpdir(), 'iasql-no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(os.tmpdir(), 'iasql-no-aws-credentials'),
    AWS_PAGER: '',
  };
  return async (...args) =>
    JSON.parse((await promisify(execFile)('aws', [...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'], { env, timeout: 30_000 })).stdout);
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

/** Creates a role Lambda may assume and returns its ARN. */
export async function lambdaRole(cloud: LocalCloud, name = 'lambda-exec'): Promise<string> {
  const { Role } = await iamClient(cloud).send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy() }));
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
