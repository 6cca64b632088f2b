import { defineModule, RpcContext } from '../../src/modules/define';
import { AwsCredentials, AwsRegion } from './0.1.0/entities';

/** What an AWS SDK v3 client needs: region, credentials, and the endpoint when it is not AWS. */
export interface AwsClientConfig {
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  endpoint?: string;
  maxAttempts?: number;
}

/** Thrown when the database has no credentials yet; modules treat it as "nothing to read yet". */
export class NoCredentialsError extends Error {
  readonly code = 'NoCredentials';
  constructor() {
    super("no AWS credentials in this database: INSERT INTO aws_credentials (access_key_id, secret_access_key) VALUES ('AKIA...', '...')");
    this.name = 'NoCredentials';
  }
}

/** What aws_account offers the modules that depend on it (their ctx.dependencies.aws_account). */
export interface AwsAccountExports {
  /** Client configuration for a region, from the first row of aws_credentials. */
  clientConfig(region: string): Promise<AwsClientConfig>;
  /** Whether credentials exist (cloud reads are skipped until they do). */
  configured(): Promise<boolean>;
  enabledRegions(): Promise<string[]>;
  defaultRegion(): Promise<string>;
}

/** The row's endpoint is not one the operator allows (it was written before the list changed). */
export class EndpointNotAllowedError extends Error {
  readonly code = 'EndpointNotAllowed';
  constructor(endpoint: string, allowed: string) {
    super(`aws_credentials.endpoint '${endpoint}' is not an endpoint this engine allows (allowed: ${allowed}); set it to NULL for AWS or to an allowed one (the operator allows more with IASQL_ALLOWED_ENDPOINTS)`);
    this.name = 'EndpointNotAllowed';
  }
}

interface CredentialsRow {
  access_key_id: string;
  secret_access_key: string;
  session_token: string | null;
  endpoint: string | null;
  allowed: boolean;
  allowed_list: string;
}

function exportsFor(ctx: Pick<RpcContext, 'query'>): AwsAccountExports {
  let creds: Promise<CredentialsRow | undefined> | undefined;
  // The endpoint is checked again here, where it is used, not only when it was written: the
  // operator may have narrowed IASQL_ALLOWED_ENDPOINTS since.
  const read = () =>
    (creds ??= ctx
      .query<CredentialsRow>(
        `select c.access_key_id, s.secret_access_key, c.session_token, c.endpoint,
                c.endpoint is null or iasql_internal.endpoint_allowed(c.endpoint) as allowed, iasql_internal.allowed_endpoints() as allowed_list
         from public.aws_credentials c join aws_account_secret.secret_key s on s.credentials_id = c.id order by c.id limit 1`,
      )
      .then((rows) => rows[0]));
  return {
    async clientConfig(region) {
      const c = await read();
      if (!c) throw new NoCredentialsError();
      if (!c.allowed) throw new EndpointNotAllowedError(c.endpoint!, c.allowed_list);
      return {
        region,
        credentials: { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, ...(c.session_token ? { sessionToken: c.session_token } : {}) },
        ...(c.endpoint ? { endpoint: c.endpoint } : {}),
      };
    },
    configured: async () => (await read()) !== undefined,
    enabledRegions: async () => (await ctx.query<{ region: string }>('select region from public.aws_regions where is_enabled order by region')).map((r) => r.region),
    defaultRegion: async () => (await ctx.query<{ region: string }>('select public.default_aws_region() as region'))[0]?.region ?? 'us-east-1',
  };
}

/**
 * The AWS account the cloud modules manage: credentials (the secret key is moved out of the
 * tenant's reach as it is written), regions and the default region, and an endpoint override so
 * the same modules talk to AWS, LocalStack or the iasql local cloud.
 */
export default defineModule({
  name: 'aws_account',
  description: 'AWS credentials, regions and endpoint',
  dir: __dirname,
  versions: [
    {
      version: '0.1.0',
      entities: [AwsCredentials, AwsRegion],
      sql: { afterInstall: '0.1.0/after_install.sql', beforeUninstall: '0.1.0/before_uninstall.sql' },
      secretColumns: { aws_credentials: ['secret_access_key'] },
      exports: (ctx) => exportsFor(ctx) as unknown as Record<string, unknown>,
    },
  ],
});
