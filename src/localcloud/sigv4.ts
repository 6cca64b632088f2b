import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4, the pieces both sides compute: the canonical request, the string to
 * sign, the signing key and the signature. Written from AWS's "Create a signed AWS API request"
 * and checked against its published test vectors (test/localcloud.sigv4.test.ts), the AWS SDK v3
 * and the AWS CLI. Services other than S3 only: their canonical URI is normalised and encoded a
 * second time.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
export const EMPTY_SHA256 = sha256Hex('');

/** RFC 3986 percent-encoding as SigV4 wants it: everything except `A-Z a-z 0-9 - _ . ~`. */
export const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The canonical URI of a path as it went over the wire (already percent-encoded once by the
 * client, e.g. Lambda's `/2015-03-31/functions/arn%3Aaws%3Alambda...`): dot segments and empty
 * segments removed, each segment encoded again, as the SDKs and botocore sign it.
 */
export function canonicalUri(wirePath: string): string {
  const segments: string[] = [];
  for (const segment of wirePath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && wirePath.endsWith('/') ? '/' : '';
  return `/${segments.map(uriEncode).join('/')}${trailing}`;
}

/**
 * The canonical query string of a query as it went over the wire: each name and value decoded
 * and encoded again the strict way, sorted by name then value. `X-Amz-Signature` is left out (a
 * presigned URL carries its own signature). Throws URIError on a malformed percent sequence.
 */
export function canonicalQuery(wireQuery: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of wireQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    if (name === 'X-Amz-Signature') continue;
    pairs.push([uriEncode(name), uriEncode(decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1)))]);
  }
  // Code-unit order, as AWS sorts (localeCompare would not).
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  pairs.sort((a, b) => order(a[0], b[0]) || order(a[1], b[1]));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * The canonical headers of `signedHeaders` (lower-case names, `;`-separated as the request names
 * them) from Node's rawHeaders: repeated headers joined with `,`, values trimmed and runs of
 * spaces collapsed. A signed header the request lacks becomes `name:`, so the signature fails.
 */
export function canonicalHeaders(rawHeaders: string[], signedHeaders: string[]): string {
  const values = new Map<string, string[]>(signedHeaders.map((h) => [h, []]));
  for (let i = 0; i < rawHeaders.length; i += 2) {
    values.get(rawHeaders[i].toLowerCase())?.push(rawHeaders[i + 1].replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim());
  }
  return signedHeaders.map((h) => `${h}:${values.get(h)!.join(',')}\n`).join('');
}

export interface CanonicalRequestParts {
  method: string;
  /** The request target as on the wire: path and query. */
  url: string;
  rawHeaders: string[];
  /** The SignedHeaders value, e.g. `content-type;host;x-amz-date`. */
  signedHeaders: string;
  payloadHash: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  const q = p.url.indexOf('?');
  const path = q < 0 ? p.url : p.url.slice(0, q);
  const query = q < 0 ? '' : p.url.slice(q + 1);
  return [p.method, canonicalUri(path), canonicalQuery(query), canonicalHeaders(p.rawHeaders, p.signedHeaders.split(';')), p.signedHeaders, p.payloadHash].join('\n');
}

export const stringToSign = (amzDate: string, scope: string, canonical: string) => `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;

// Deriving a key is four HMACs; a request needs one per (secret, day, region, service), and a
// client sends many requests with the same one.
const keyCache = new Map<string, Buffer>();
const KEY_CACHE_SIZE = 256;

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${secretAccessKey}\n${date}\n${region}\n${service}`;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = Buffer.from(`AWS4${secretAccessKey}`, 'utf8');
    for (const part of [date, region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
    keyCache.set(cacheKey, key);
  }
  return key;
}

export const signatureOf = (key: Buffer, toSign: string) => createHmac('sha256', key).update(toSign).digest('hex');

/** `20260101T120000Z` */
export const amzDate = (at: Date) => at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

export interface PresignOptions {
  /** Absolute URL without a query. */
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  expiresSeconds: number;
  now?: Date;
}

/**
 * A presigned GET URL (query-string SigV4, only `host` signed, empty payload), as AWS hands out
 * for downloads (GetFunction's Code.Location). The local cloud verifies it like any request.
 */
export function presignUrl(o: PresignOptions): string {
  const url = new URL(o.url);
  const date = amzDate(o.now ?? new Date());
  const scope = `${date.slice(0, 8)}/${o.region}/${o.service}/aws4_request`;
  const query = [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${o.accessKeyId}/${scope}`],
    ['X-Amz-Date', date],
    ['X-Amz-Expires', String(o.expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ]
    .map(([k, v]) => `${k}=${uriEncode(v)}`)
    .join('&');
  const target = `${url.pathname}?${query}`;
  const canonical = canonicalRequest({ method: 'GET', url: target, rawHeaders: ['host', url.host], signedHeaders: 'host', payloadHash: EMPTY_SHA256 });
  const signature = signatureOf(signingKey(o.secretAccessKey, date.slice(0, 8), o.region, o.service), stringToSign(date, scope, canonical));
  return `${url.origin}${target}&X-Amz-Signature=${signature}`;
}
