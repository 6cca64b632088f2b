-- Credentials and regions of the AWS account the cloud modules manage.
CREATE TABLE public.aws_credentials (
  id serial NOT NULL,
  access_key_id text NOT NULL,
  -- Shown as '********' once stored: the key itself is moved where tenants cannot read it.
  secret_access_key text NOT NULL,
  session_token text,
  -- Another endpoint for every AWS service (LocalStack, the iasql local cloud); NULL: real AWS.
  endpoint text,
  CONSTRAINT aws_credentials_pkey PRIMARY KEY (id)
);

CREATE TABLE public.aws_regions (
  region text NOT NULL,
  is_default boolean NOT NULL DEFAULT false,
  is_enabled boolean NOT NULL DEFAULT true,
  CONSTRAINT aws_regions_pkey PRIMARY KEY (region)
);
