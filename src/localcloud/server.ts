import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { credentialScope } from './credential-scope';
import { LocalDynamoDb } from './dynamodb';
import { LocalIam } from './iam';
import { LocalLambda } from './lambda';
import { sendAwsError, type LocalService } from './service';

export interface LocalCloudOptions {
  /**
   * Each service keeps its data under it (`<dataDir>/dynamodb/<region>`, `<dataDir>/lambda/<region>`,
   * `<dataDir>/iam`). Unset: in memory, gone on stop.
   */
  dataDir?: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger: Logger;
  /**
   * Default trusted. When the engine is not root, Lambda handlers run as its own user ('trusted')
   * or Invoke is refused ('refused'); as root they always run as one unprivileged user per account.
   */
  invoke?: 'trusted' | 'refused';
}

export interface LocalCloud {
  /** e.g. http://127.0.0.1:4566: what `endpoint` (SDK) or `--endpoint-url` (CLI) take. */
  endpoint: string;
  stop(): Promise<void>;
}

// What a real service accepts in one request, unless the service says otherwise (DynamoDB: 16 MB).
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Starts the local cloud: AWS service emulators behind one HTTP endpoint, so the AWS SDKs and CLI
 * work against it unchanged with any access key. A request goes to the service named in its
 * SigV4 credential scope (what every SDK signs with), in the region named there.
 *
 * @example
 *   const cloud = await startLocalCloud({ port: 0, logger });
 *   const ddb = new DynamoDBClient({ endpoint: cloud.endpoint, region: 'us-east-1',
 *     credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const { logger } = options;
  const host = options.host ?? '127.0.0.1';
  const dir = (service: string) => options.dataDir && path.join(options.dataDir, service);
  const iam = new LocalIam(dir('iam'), logger);
  const services: Record<string, LocalService> = {
    dynamodb: new LocalDynamoDb(dir('dynamodb'), logger),
    lambda: new LocalLambda(dir('lambda'), iam, logger),
    iam,
  };
  const names = Object.keys(services);

  const server = http.createServer((req, res) => {
    const scope = credentialScope(req.headers, req.url);
    if (!scope) {
      if (req.method === 'GET' && new URL(req.url ?? '/', 'http://local').pathname === '/') {
        // A health check, or a person with a browser.
        const body = JSON.stringify({ localCloud: 'iasql', services: names });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      req.resume();
      sendAwsError(
        req,
        res,
        403,
        'MissingAuthenticationTokenException',
        'the iasql local cloud routes each request by its SigV4 credential scope (Authorization: AWS4-HMAC-SHA256 ' +
          'Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...); use an AWS SDK or the AWS CLI with any access key',
      );
      return;
    }
    const service = services[scope.service];
    if (!service) {
      req.resume();
      sendAwsError(
        req,
        res,
        400,
        'UnsupportedServiceException',
        `the iasql local cloud does not emulate the '${scope.service}' service; it emulates: ${names.join(', ')}`,
        { supportedServices: names },
      );
      return;
    }
    readBody(req, service.maxBodyBytes ?? MAX_BODY_BYTES).then(
      (body) => {
        logger.trace({ service: scope.service, region: scope.region, target: req.headers['x-amz-target'] }, 'local cloud request');
        service.handle(req, body, res, scope);
      },
      (err: Error) => {
        if (!(err instanceof BodyTooLarge)) res.destroy();
        else if (service.bodyTooLarge) service.bodyTooLarge(req, res);
        else sendAwsError(req, res, 413, 'RequestEntityTooLarge', err.message);
      },
    );
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => resolve());
    });
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.stop()));
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  for (const service of Object.values(services)) service.listening?.(endpoint);
  logger.info({ endpoint, services: names, data: options.dataDir ?? 'memory' }, 'local cloud started');
  return {
    endpoint,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(Object.values(services).map((s) => s.stop()));
    },
  };
}

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge(`request body larger than ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
