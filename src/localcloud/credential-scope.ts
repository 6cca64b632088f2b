/**
 * The credential scope of a SigV4-signed request: `KEY/20260101/us-east-1/dynamodb/aws4_request`.
 * Every AWS SDK and the CLI sign each request with it, so it tells the local cloud which account
 * (by the access key), service and region a request is for without knowing each service's wire
 * format.
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
const SCOPE = /^([A-Za-z0-9]{1,128})\/(\d{8})\/([a-z0-9-]{1,40})\/([a-z0-9-]{1,40})\/aws4_request$/;

/** The scope in a `Credential=` (header) or `X-Amz-Credential` (query) value; undefined when malformed. */
export function parseCredential(credential: string): CredentialScope | undefined {
  const m = SCOPE.exec(credential);
  return m ? { accessKeyId: m[1], date: m[2], region: m[3], service: m[4] } : undefined;
}

/** The scope as the string to sign names it: `20260101/us-east-1/dynamodb/aws4_request`. */
export const scopeString = (s: CredentialScope) => `${s.date}/${s.region}/${s.service}/aws4_request`;
