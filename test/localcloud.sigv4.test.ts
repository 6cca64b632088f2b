import type { IncomingMessage } from 'node:http';
import { AuthError, readSignature, verifySignature } from '../src/localcloud/authenticate';
import { canonicalRequest, canonicalUri, EMPTY_SHA256, presignUrl, signatureOf, signingKey, stringToSign } from '../src/localcloud/sigv4';
import { sdkSigner, signedHeaders } from './support/localcloud';

// AWS's SigV4 test suite: key, date, region and service of every example.
const SUITE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const suiteHeaders = ['Host', 'example.amazonaws.com', 'X-Amz-Date', '20150830T123600Z'];
const suiteSignature = (url: string) =>
  signatureOf(
    signingKey(SUITE.secretAccessKey, '20150830', 'us-east-1', 'service'),
    stringToSign('20150830T123600Z', '20150830/us-east-1/service/aws4_request', canonicalRequest({ method: 'GET', url, rawHeaders: suiteHeaders, signedHeaders: 'host;x-amz-date', payloadHash: EMPTY_SHA256 })),
  );

describe('SigV4 against AWS test suite vectors', () => {
  test('get-vanilla: the canonical request and the signature AWS publishes', () => {
    expect(canonicalRequest({ method: 'GET', url: '/', rawHeaders: suiteHeaders, signedHeaders: 'host;x-amz-date', payloadHash: EMPTY_SHA256 })).toBe(
      'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(suiteSignature('/')).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });

  test('get-vanilla-query-order-key-case: the query is sorted', () => {
    expect(suiteSignature('/?Param2=value2&Param1=value1')).toBe('b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });

  test('the canonical URI: normalised, each segment encoded once more (a Lambda ARN in the path)', () => {
    expect(canonicalUri('/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations')).toBe(
      '/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Af/invocations',
    );
    expect(canonicalUri('/a//b/./c/../d/')).toBe('/a/b/d/');
    expect(canonicalUri('/')).toBe('/');
  });
});

/** 'accepted', or why verifySignature refused. */
function outcome(verify: () => void): string {
  try {
    verify();
    return 'accepted';
  } catch (err) {
    return (err as AuthError).failure;
  }
}

/** An incoming request as the server sees it, built from what a client sends. */
function incoming(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, url, rawHeaders: Object.entries(headers).flat(), headers: lower } as unknown as IncomingMessage;
}

describe('verifySignature accepts what the AWS SDK signs, and nothing changed', () => {
  const endpoint = 'http://127.0.0.1:4566';
  const key = { accessKeyId: 'AKIATESTTESTTESTTEST', secretAccessKey: 'secret/with+chars/0123456789abcdefghijkl' };
  const cases: Array<{ what: string; service: string; method: string; path: string; headers?: Record<string, string>; body?: string }> = [
    { what: 'DynamoDB JSON', service: 'dynamodb', method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' },
    { what: 'a Lambda ARN in the path', service: 'lambda', method: 'POST', path: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations', body: '{"x":1}' },
    { what: 'a query with repeated keys, spaces and unicode', service: 'lambda', method: 'DELETE', path: '/2017-03-31/tags/x?tagKeys=b%20c&tagKeys=a&Marker=%C3%A9%2F%2B' },
    { what: 'a header value with runs of spaces', service: 'iam', method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-meta': '  a   b  ' }, body: 'Action=ListRoles&Version=2010-05-08' },
  ];

  test.each(cases)('$what', async ({ service, method, path, headers = {}, body }) => {
    const now = Date.now();
    const signed = await signedHeaders(endpoint, key, { service, method, path, headers, body, signingDate: new Date(now) });
    const verify = (m: string, url: string, h: Record<string, string>, b: string | undefined, secret = key.secretAccessKey) => {
      const req = incoming(m, url, h);
      verifySignature(req, Buffer.from(b ?? ''), readSignature(req)!, secret, now);
    };
    verify(method, path, signed, body);
    const changes: Array<[string, () => void]> = [
      ['the secret', () => verify(method, path, signed, body, key.secretAccessKey.replace('s', 'S'))],
      ['the method', () => verify(method === 'POST' ? 'PUT' : 'POST', path, signed, body)],
      ['the path', () => verify(method, path.replace(/.$/, '_'), signed, body)],
      ['the query', () => verify(method, `${path}${path.includes('?') ? '&' : '?'}extra=1`, signed, body)],
      ['the body', () => verify(method, path, signed, `${body ?? ''} `)],
      ['the host', () => verify(method, path, { ...signed, host: 'localhost:4566' }, body)],
    ];
    for (const [what, change] of changes) {
      expect([what, outcome(change)]).toEqual([what, 'badSignature']);
    }
  });
});

describe('presigned URLs', () => {
  test('presignUrl signs as the SDK presigns, and verifySignature accepts it until it expires', async () => {
    const key = { accessKeyId: 'AKIATESTTESTTESTTEST', secretAccessKey: 'another/secret/0123456789abcdefghijklmno' };
    const at = new Date('2026-03-01T10:00:00Z');
    const url = presignUrl({ url: 'http://127.0.0.1:4566/_localcloud/lambda-code/f/ab.zip', ...key, region: 'eu-west-1', service: 'lambda', expiresSeconds: 600, now: at });
    const { pathname, search } = new URL(url);
    const req = incoming('GET', `${pathname}${search}`, { host: '127.0.0.1:4566' });
    const signature = readSignature(req)!;
    expect(signature).toMatchObject({ form: 'query', amzDate: '20260301T100000Z', expiresSeconds: 600, scope: { accessKeyId: key.accessKeyId, region: 'eu-west-1', service: 'lambda' } });
    expect(() => verifySignature(req, Buffer.alloc(0), signature, key.secretAccessKey, at.getTime() + 599_000)).not.toThrow();
    expect(() => verifySignature(req, Buffer.alloc(0), signature, key.secretAccessKey, at.getTime() + 601_000)).toThrow(/Signature expired/);
    // The SDK's own presigner, same inputs: the same signature.
    const sdk = await sdkSigner(key, 'lambda', 'eu-west-1').presign(
      { method: 'GET', protocol: 'http:', hostname: '127.0.0.1:4566', path: '/_localcloud/lambda-code/f/ab.zip', query: {}, headers: { host: '127.0.0.1:4566' } },
      { signingDate: at, expiresIn: 600 },
    );
    expect(new URL(url).searchParams.get('X-Amz-Signature')).toBe(sdk.query!['X-Amz-Signature']);
  });

  test('a query-string credential without the rest of a presigned URL is refused, not read as unsigned', () => {
    const req = incoming('POST', '/?X-Amz-Credential=AKIAX%2F20260101%2Fus-east-1%2Fdynamodb%2Faws4_request', { host: '127.0.0.1:4566' });
    expect(() => readSignature(req)).toThrow(/missing: X-Amz-Algorithm, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature/);
    const lowerCase = incoming('POST', '/?x-amz-signature=00', { host: '127.0.0.1:4566' });
    expect(() => readSignature(lowerCase)).toThrow(AuthError);
  });
});
