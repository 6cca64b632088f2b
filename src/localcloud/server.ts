import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createHttpServer, listenHttp } from '../http-server';
import type { Logger } from '../logger';
import { AccountRegistry, type LocalAccounts } from './accounts';
import { AuthError, readSignature, UNKNOWN_KEY_MESSAGE, verifySignature, type AuthFailure, type RequestSignature } from './authenticate';
import { browserRefusal, contentTypeRefusal } from './browser-guard';
import { DEFAULT_MAX_OPEN_DYNAMODB, LocalDynamoDb } from './dynamodb';
import { FaultSet, type LocalFaults } from './faults';
import { LocalIam } from './iam';
import { LocalLambda } from './lambda';
import { isAwsRegion } from './regions';
import { BodyBudget, BodyRefused, readBody } from './request-body';
import { sendAwsError, type LocalService } from './service';

export interface LocalCloudOptions {
  /**
   * Accounts and what they own are kept under it (`<dataDir>/accounts.json`,
   * `<dataDir>/dynamodb/<accountId>/<region>`, `<dataDir>/lambda/<accountId>/<region>`,
   * `<dataDir>/iam/<accountId>`). Unset: nothing is kept after stop.
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
  /** DynamoDB stores (one per account and region) open at once; default 32. */
  maxOpenDynamoDb?: number;
  /**
   * Default 0: changes take effect at once. Otherwise AWS's eventual consistency is emulated for
   * this long: Lambda refuses a role this young (`The role defined for the function cannot be
   * assumed by Lambda.`), GetRole misses it for the first quarter of that, and DynamoDB tables stay
   * CREATING / UPDATING / DELETING that long (UpdateTable and DeleteTable refuse them meanwhile).
   */
  propagationMs?: number;
}

export interface LocalCloud {
  /** e.g. http://127.0.0.1:4566: what `endpoint` (SDK) or `--endpoint-url` (CLI) take. */
  endpoint: string;
  /** Who may use it: every request is signed with the key of one of these, and sees only what that account owns. */
  accounts: LocalAccounts;
  /**
   * Errors to answer chosen requests with, for tests (`faults.inject({ service, operation, error })`).
   * Only code in this process reaches it: nothing over HTTP does.
   */
  faults: LocalFaults;
  stop(): Promise<void>;
}

// What a real service accepts in one request, unless the service says otherwise (DynamoDB: 16 MB).
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** How long a client may take to send a whole request: a 70 MB CreateFunction over loopback takes well under a second. */
const REQUEST_TIMEOUT_MS = 60_000;
/** How each service says "slow down", as AWS does: the SDKs retry these with backoff. */
const THROTTLED: Record<string, [status: number, type: string]> = {
  dynamodb: [400, 'ThrottlingException'],
  lambda: [429, 'TooManyRequestsException'],
  iam: [400, 'Throttling'],
  default: [400, 'ThrottlingException'],
};

/** The error types AWS answers with, per failure: IAM (query protocol) names them differently. */
const ERROR_TYPES: Record<AuthFailure | 'denied', { iam: string; other: string }> = {
  incomplete: { iam: 'IncompleteSignature', other: 'IncompleteSignatureException' },
  unknownKey: { iam: 'InvalidClientTokenId', other: 'UnrecognizedClientException' },
  badSignature: { iam: 'SignatureDoesNotMatch', other: 'InvalidSignatureException' },
  denied: { iam: 'AccessDenied', other: 'AccessDeniedException' },
};

/**
 * Starts the local cloud: AWS service emulators behind one HTTP endpoint, so the AWS SDKs and CLI
 * work against it unchanged. Every request must be signed (SigV4) with the key of one of its
 * accounts; it goes to the service named in the signature's credential scope, in the region named
 * there, and reaches only what that account owns.
 *
 * @example
 *   const cloud = await startLocalCloud({ port: 0, logger });
 *   const { accessKeyId, secretAccessKey } = await cloud.accounts.create('my_db');
 *   const ddb = new DynamoDBClient({ endpoint: cloud.endpoint, region: 'us-east-1',
 *     credentials: { accessKeyId, secretAccessKey } });
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const { logger } = options;
  const host = options.host ?? '127.0.0.1';
  const dir = (service: string) => options.dataDir && path.join(options.dataDir, service);
  const propagationMs = options.propagationMs ?? 0;
  const iam = new LocalIam(dir('iam'), logger, propagationMs);
  const services: Record<string, LocalService> = {
    dynamodb: new LocalDynamoDb(dir('dynamodb'), logger, options.maxOpenDynamoDb ?? DEFAULT_MAX_OPEN_DYNAMODB, propagationMs),
    lambda: new LocalLambda(dir('lambda'), iam, logger, { invoke: options.invoke }),
    iam,
  };
  const names = Object.keys(services);
  const faults = new FaultSet();
  const accounts = new AccountRegistry(options.dataDir, async (accountId) => {
    await Promise.all(Object.values(services).map((s) => s.removeAccount(accountId)));
    logger.info({ accountId }, 'local cloud account removed');
  });

  // Twice the largest body any service takes: one key can send its largest request while another
  // is still being answered, and a key's requests never hold more than that in memory at once.
  const budget = new BodyBudget(2 * Math.max(MAX_BODY_BYTES, ...Object.values(services).map((s) => s.maxBodyBytes ?? MAX_BODY_BYTES)));

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A throw here would take the engine down with it (a 'request' listener's exception is
    // uncaught): anything unexpected is answered as a 500 instead.
    const failed = (err: unknown) => {
      logger.error({ err: (err as Error).message, url: req.url }, 'local cloud request failed');
      req.resume();
      sendAwsError(req, res, 500, 'InternalFailure', `the iasql local cloud failed: ${(err as Error).message}`);
    };
    try {
      serve(req, res, failed);
    } catch (err) {
      failed(err);
    }
  };
  const server = createHttpServer({ name: 'local cloud', logger, requestTimeoutMs: REQUEST_TIMEOUT_MS }, onRequest);
  // A client that asks before sending its body (Expect: 100-continue) is told to go ahead only once
  // the body is within its limits (readBody), and is refused without sending it otherwise.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));

  function serve(req: http.IncomingMessage, res: http.ServerResponse, failed: (err: unknown) => void): void {
    const refuse = (status: number, type: string, message: string, service?: string, extra: Record<string, unknown> = {}) => {
      req.resume();
      sendAwsError(req, res, status, type, message, extra, service);
    };
    const typeOf = (failure: AuthFailure | 'denied', service?: string) => ERROR_TYPES[failure][service === 'iam' ? 'iam' : 'other'];

    const fromBrowser = browserRefusal(req);
    if (fromBrowser) return refuse(403, typeOf('denied'), fromBrowser);
    let signature: RequestSignature | undefined;
    try {
      signature = readSignature(req);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      return refuse(403, typeOf(err.failure), err.message);
    }
    if (!signature) {
      if (req.method === 'GET' && new URL(req.url ?? '/', 'http://local').pathname === '/') {
        // A health check, or a person with a browser.
        const body = JSON.stringify({ localCloud: 'iasql', services: names });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      return refuse(
        403,
        'MissingAuthenticationTokenException',
        'the iasql local cloud answers only requests signed with SigV4 (Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...) ' +
          "with the access key of one of its accounts; use an AWS SDK or the AWS CLI with your database's local cloud key",
      );
    }
    const { scope } = signature;
    // Own names only: a scope naming 'constructor' must not find Object's.
    const service = Object.hasOwn(services, scope.service) ? services[scope.service] : undefined;
    // Unknown keys are refused before their body is read.
    if (!accounts.byAccessKey(scope.accessKeyId)) return refuse(403, typeOf('unknownKey', scope.service), UNKNOWN_KEY_MESSAGE, scope.service);

    const signed = signature;
    readBody(req, res, { maxBytes: service?.maxBodyBytes ?? MAX_BODY_BYTES, budget, key: scope.accessKeyId }).then(
      (body) => {
        try {
          route(body);
        } catch (err) {
          failed(err);
        }
      },
      (err: Error) => {
        try {
          refuseBody(err);
        } catch (unexpected) {
          failed(unexpected);
        }
      },
    );

    function refuseBody(err: Error): void {
      if (!(err instanceof BodyRefused)) return void res.destroy(); // the client went away
      // The rest of the body is never read: the connection ends with the answer.
      res.setHeader('connection', 'close');
      if (err.reason === 'overBudget') {
        const [status, type] = Object.hasOwn(THROTTLED, scope.service) ? THROTTLED[scope.service] : THROTTLED.default;
        return sendAwsError(req, res, status, type, err.message, {}, scope.service);
      }
      if (service?.bodyTooLarge) service.bodyTooLarge(req, res);
      else sendAwsError(req, res, 413, 'RequestEntityTooLarge', err.message, {}, scope.service);
    }

    function route(body: Buffer): void {
      // Looked up again: the account may have been removed while the body came in.
      const account = accounts.byAccessKey(scope.accessKeyId);
      if (!account) return refuse(403, typeOf('unknownKey', scope.service), UNKNOWN_KEY_MESSAGE, scope.service);
      try {
        verifySignature(req, body, signed, account.secretAccessKey);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        return refuse(403, typeOf(err.failure, scope.service), err.message, scope.service);
      }
      if (!service) {
        return refuse(400, 'UnsupportedServiceException', `the iasql local cloud does not emulate the '${scope.service}' service; it emulates: ${names.join(', ')}`, undefined, {
          supportedServices: names,
        });
      }
      if (!isAwsRegion(scope.region)) {
        return refuse(
          400,
          'UnsupportedRegionException',
          `'${scope.region}' is not an AWS region; the iasql local cloud serves the regions of the AWS commercial partition (us-east-1, eu-west-1, ...)`,
          scope.service,
        );
      }
      const badType = contentTypeRefusal(req, scope.service);
      if (badType) return refuse(403, typeOf('denied', scope.service), badType, scope.service);
      logger.trace({ service: scope.service, region: scope.region, accountId: account.accountId, target: req.headers['x-amz-target'] }, 'local cloud request');
      if (faults.has(scope.service)) {
        const op = service.operationOf(req, body);
        const fault = op && faults.take({ service: scope.service, operation: op.name, region: scope.region, accountId: account.accountId, input: op.input });
        if (fault) {
          logger.debug({ service: scope.service, operation: op.name, error: fault.name }, 'local cloud request refused by an injected fault');
          return refuse(fault.status ?? 400, fault.name, fault.message, scope.service);
        }
      }
      service.handle(req, body, res, { account, region: scope.region, service: scope.service });
    }
  }

  try {
    await listenHttp(server, options.port, host, { name: 'local cloud', logger });
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.stop()));
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  for (const service of Object.values(services)) service.listening?.(endpoint);
  logger.info({ endpoint, services: names, data: options.dataDir ?? 'memory', ...(propagationMs ? { propagationMs } : {}) }, 'local cloud started');
  return {
    endpoint,
    accounts: {
      create: (label) => accounts.create(label),
      get: (label) => accounts.get(label),
      remove: (label) => accounts.remove(label),
    },
    faults: { inject: (fault) => faults.inject(fault), clear: () => faults.clear() },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(Object.values(services).map((s) => s.stop()));
    },
  };
}
