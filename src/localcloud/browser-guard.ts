import type { IncomingMessage } from 'node:http';

/**
 * Requests a web page can make, refused before anything else. The local cloud listens on
 * loopback for the SDKs and the CLI of the same machine; a page open in a browser there can
 * still send it requests (a form post, fetch in no-cors mode, DNS rebinding). None of those is
 * ever what an SDK or the CLI sends, so each is refused with a message saying why.
 */

// DNS rebinding: a page's own host name resolved to 127.0.0.1 arrives with that name as Host.
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;
// What a form or a no-cors fetch may send without a CORS preflight. The AWS JSON protocols
// (DynamoDB, Lambda) never use them; IAM's query protocol legitimately posts
// application/x-www-form-urlencoded, which only a valid signature lets through.
const SIMPLE_TYPES = ['text/plain', 'multipart/form-data', 'application/x-www-form-urlencoded'];
const QUERY_PROTOCOL_SERVICES = ['iam'];

/** Why a request from a browser is refused, or undefined when it is not one. */
export function browserRefusal(req: IncomingMessage): string | undefined {
  if (req.headers.origin !== undefined) {
    return `the iasql local cloud refuses requests with an Origin header (${req.headers.origin}): browsers send it, AWS SDKs and the AWS CLI do not`;
  }
  const host = req.headers.host;
  if (!host || !LOOPBACK_HOST.test(host)) {
    return `the iasql local cloud answers only requests addressed to a loopback host (127.0.0.1, localhost or [::1]), not '${host ?? ''}'`;
  }
  return undefined;
}

/** Why a body of this content type is refused for `service`, or undefined when it is fine. */
export function contentTypeRefusal(req: IncomingMessage, service: string): string | undefined {
  if (QUERY_PROTOCOL_SERVICES.includes(service)) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!SIMPLE_TYPES.includes(type)) return undefined;
  return `the iasql local cloud refuses ${service} requests with a ${type} body: web pages can send those without asking, AWS SDKs and the AWS CLI never do`;
}
