import type { IncomingHttpHeaders } from 'node:http';

/**
 * The credential scope of a SigV4-signed request: `KEY/20260101/us-east-1/dynamodb/aws4_request`.
 * Every AWS SDK and the CLI sign each request with it, so it tells the local cloud which service
 * and region a request is for without knowing each service's wire format.
 */
export interface CredentialScope {
  accessKeyId: string;
  /** YYYYMMDD */
  date: string;
  region: string;
  /** The signing name: dynamodb, lambda, iam, ... */
  service: string;
}

// Region and service become directory names and map keys: lowercase letters, digits and dashes only.
const SCOPE = /^([^/\s]+)\/(\d{8})\/([a-z0-9-]{1,40})\/([a-z0-9-]{1,40})\/aws4_request$/;

/**
 * The scope from the `Authorization` header (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...`) or from a presigned URL's `X-Amz-Credential`. Undefined when the request is not
 * SigV4-signed or the scope is malformed. The signature itself is not checked: any key works.
 */
export function credentialScope(headers: IncomingHttpHeaders, url = '/'): CredentialScope | undefined {
  let credential: string | null | undefined;
  if (headers.authorization) credential = /Credential=([^,\s]+)/.exec(headers.authorization)?.[1];
  else credential = new URL(url, 'http://local').searchParams.get('X-Amz-Credential');
  const m = credential ? SCOPE.exec(credential) : null;
  return m ? { accessKeyId: m[1], date: m[2], region: m[3], service: m[4] } : undefined;
}
