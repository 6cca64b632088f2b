import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalAccount } from './accounts';
import { escapeXml } from './xml';

/** Who sent a request (verified by its signature) and where it goes. */
export interface AuthenticatedRequest {
  account: LocalAccount;
  /** A real AWS region name (checked). */
  region: string;
  /** The signing name: dynamodb, lambda, iam. */
  service: string;
}

/** One emulated AWS service behind the local cloud's endpoint, chosen by the signing name of a request. */
export interface LocalService {
  /** Answers one request of `request.account`; `body` is the whole request body, already read. */
  handle(req: IncomingMessage, body: Buffer, res: ServerResponse, request: AuthenticatedRequest): void;
  /** Deletes everything the account owns in this service. Requests of the account are already refused. */
  removeAccount(accountId: string): Promise<void>;
  stop(): Promise<void>;
  /** The largest request body it takes; default 16 MB (what DynamoDB takes). */
  maxBodyBytes?: number;
  /** Answers a request whose body is over `maxBodyBytes`; default: 413 `RequestEntityTooLarge`. */
  bodyTooLarge?(req: IncomingMessage, res: ServerResponse): void;
  /**
   * The API operation a request calls (CreateFunction, UpdateTable, AttachRolePolicy) and its input
   * (the parsed body; for the query protocol, its parameters): what injected faults match on.
   */
  operationOf(req: IncomingMessage, body: Buffer): { name: string; input: Record<string, unknown> } | undefined;
  /** Called once the endpoint listens, with its URL (for links and for the services' own clients). */
  listening?(endpoint: string): void;
}

/**
 * Answers with an error in the shape the client's protocol reads, so SDKs and the CLI show the
 * message as the error: XML `<ErrorResponse>` for the query protocol (`service` iam; without a
 * service, a form-encoded body), otherwise JSON with `__type` and `message` (and `x-amzn-ErrorType` for
 * REST-JSON clients such as Lambda's).
 */
export function sendAwsError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
  service?: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const query = service ? service === 'iam' : (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  const body = query
    ? `<ErrorResponse><Error><Type>Sender</Type><Code>${type}</Code><Message>${escapeXml(message)}</Message></Error></ErrorResponse>`
    : JSON.stringify({ __type: type, message, ...extra });
  res.writeHead(status, {
    'content-type': query ? 'text/xml' : 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': type,
  });
  res.end(body);
}
