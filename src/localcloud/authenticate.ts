import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { parseCredential, scopeString, type CredentialScope } from './credential-scope';
import { ALGORITHM, amzDate, canonicalRequest, sha256Hex, signatureOf, signingKey, stringToSign } from './sigv4';

/** How a request is signed: the `Authorization` header, or a presigned URL's query string. */
export interface RequestSignature {
  form: 'header' | 'query';
  scope: CredentialScope;
  /** X-Amz-Date: `20260101T120000Z`. */
  amzDate: string;
  /** As the request names them: `content-type;host;x-amz-date`. */
  signedHeaders: string;
  signature: string;
  /** Query form: how long the URL is valid after amzDate (X-Amz-Expires). */
  expiresSeconds?: number;
}

/** Why a request is refused; the server answers each with the error type of the service asked. */
export type AuthFailure = 'incomplete' | 'unknownKey' | 'badSignature';

export class AuthError extends Error {
  constructor(
    readonly failure: AuthFailure,
    message: string,
  ) {
    super(message);
  }
}

/** A signed request may be this far from the local cloud's clock, either way (as in AWS). */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** The longest a presigned URL may be valid: 7 days, as AWS allows. */
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;
const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'];
const AMZ_DATE = /^\d{8}T\d{6}Z$/;

export const BAD_SIGNATURE_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. ' +
  'Consult the service documentation for details.';
export const UNKNOWN_KEY_MESSAGE = 'The security token included in the request is invalid.';

/**
 * The signature a request claims, not yet verified. Undefined when it carries none at all (no
 * Authorization header, no X-Amz-* signing parameter in its query). A half-signed request, such
 * as a credential scope in the query string without the rest of a presigned URL (what a web page
 * can put in a form's action), is refused, never read as unsigned.
 */
export function readSignature(req: IncomingMessage): RequestSignature | undefined {
  const query = new URL(req.url ?? '/', 'http://local').searchParams;
  const presign = PRESIGN_PARAMS.filter((p) => [...query.keys()].some((k) => k.toLowerCase() === p.toLowerCase()));
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    if (presign.length) throw new AuthError('incomplete', `A request is signed either in its Authorization header or in its query string, not both (found ${presign.join(', ')})`);
    return headerSignature(authorization, req.headers['x-amz-date']);
  }
  if (presign.length === 0) return undefined;
  const missing = PRESIGN_PARAMS.filter((p) => !query.has(p));
  if (missing.length) {
    throw new AuthError('incomplete', `A presigned request needs ${PRESIGN_PARAMS.join(', ')} in its query string; missing: ${missing.join(', ')}`);
  }
  if (query.get('X-Amz-Algorithm') !== ALGORITHM) throw new AuthError('incomplete', `Unsupported X-Amz-Algorithm; only ${ALGORITHM} is accepted`);
  const scope = parseCredential(query.get('X-Amz-Credential')!);
  if (!scope) throw new AuthError('incomplete', 'X-Amz-Credential is not KEY/YYYYMMDD/region/service/aws4_request');
  const date = query.get('X-Amz-Date')!;
  if (!AMZ_DATE.test(date)) throw new AuthError('incomplete', 'X-Amz-Date must be YYYYMMDDTHHMMSSZ');
  const expires = Number(query.get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_SECONDS) {
    throw new AuthError('incomplete', `X-Amz-Expires must be between 1 and ${MAX_EXPIRES_SECONDS} seconds`);
  }
  return { form: 'query', scope, amzDate: date, signedHeaders: query.get('X-Amz-SignedHeaders')!, signature: query.get('X-Amz-Signature')!, expiresSeconds: expires };
}

function headerSignature(authorization: string, date: string | string[] | undefined): RequestSignature {
  if (!authorization.startsWith(`${ALGORITHM} `)) throw new AuthError('incomplete', `Unsupported Authorization; only ${ALGORITHM} (SigV4) is accepted`);
  const parts = new Map<string, string>();
  for (const part of authorization.slice(ALGORITHM.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const [credential, signedHeaders, signature] = ['Credential', 'SignedHeaders', 'Signature'].map((k) => parts.get(k));
  if (!credential || !signedHeaders || !signature) {
    throw new AuthError('incomplete', "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters");
  }
  const scope = parseCredential(credential);
  if (!scope) throw new AuthError('incomplete', 'Credential is not KEY/YYYYMMDD/region/service/aws4_request');
  if (typeof date !== 'string' || !AMZ_DATE.test(date)) throw new AuthError('incomplete', 'A signed request needs an X-Amz-Date header (YYYYMMDDTHHMMSSZ)');
  return { form: 'header', scope, amzDate: date, signedHeaders, signature };
}

/**
 * Throws unless `sig` is the signature of this request (method, path, query, signed headers,
 * body) with `secretAccessKey`, made within 15 minutes of `now` (a presigned URL: not yet
 * expired). The body is covered by its hash: a request's own `x-amz-content-sha256` must be that
 * of the body it came with, so a captured request cannot be replayed with another body.
 */
export function verifySignature(req: IncomingMessage, body: Buffer, sig: RequestSignature, secretAccessKey: string, now = Date.now()): void {
  const signed = sig.signedHeaders.split(';');
  if (!signed.includes('host')) throw new AuthError('badSignature', "'Host' must be a signed header");
  if (sig.scope.date !== sig.amzDate.slice(0, 8)) throw new AuthError('badSignature', 'The date of the credential scope does not match the date of X-Amz-Date');
  checkTime(sig, now);

  const bodyHash = sha256Hex(body);
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== bodyHash) {
    throw new AuthError('badSignature', 'The x-amz-content-sha256 header does not match the request body (UNSIGNED-PAYLOAD is not accepted)');
  }
  let canonical: string;
  try {
    canonical = canonicalRequest({ method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders, signedHeaders: sig.signedHeaders, payloadHash: bodyHash });
  } catch {
    throw new AuthError('badSignature', 'The query string has a malformed percent-encoding');
  }
  const key = signingKey(secretAccessKey, sig.scope.date, sig.scope.region, sig.scope.service);
  const expected = Buffer.from(signatureOf(key, stringToSign(sig.amzDate, scopeString(sig.scope), canonical)), 'utf8');
  const given = Buffer.from(sig.signature, 'utf8');
  // Constant time: how much of a guess matches must not show in how long the answer takes.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AuthError('badSignature', BAD_SIGNATURE_MESSAGE);
}

function checkTime(sig: RequestSignature, now: number): void {
  const d = sig.amzDate;
  const signedAt = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15));
  if (signedAt - now > MAX_SKEW_MS) {
    throw new AuthError('badSignature', `Signature not yet current: ${d} is still later than ${amzDate(new Date(now + MAX_SKEW_MS))} (${amzDate(new Date(now))} + 15 min.)`);
  }
  const validUntil = sig.form === 'query' ? signedAt + sig.expiresSeconds! * 1000 : signedAt + MAX_SKEW_MS;
  if (now > validUntil) {
    throw new AuthError(
      'badSignature',
      sig.form === 'query'
        ? `Signature expired: the presigned URL was valid until ${amzDate(new Date(validUntil))}, it is now ${amzDate(new Date(now))}`
        : `Signature expired: ${d} is now earlier than ${amzDate(new Date(now - MAX_SKEW_MS))} (${amzDate(new Date(now))} - 15 min.)`,
    );
  }
}
