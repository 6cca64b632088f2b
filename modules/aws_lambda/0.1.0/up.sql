-- Lambda functions: IaSQL's shape, plus timeout. VPC settings are not modelled yet.
CREATE TABLE public.lambda_function (
  id serial NOT NULL,
  name text NOT NULL,
  -- Filled from the cloud.
  arn text,
  version text NOT NULL DEFAULT '$LATEST',
  description text,
  -- The code, base64 of a zip: needed to create; a new value updates the code; set back to NULL
  -- after a successful commit (the cloud keeps the code, the row does not).
  zip_b64 text,
  handler text,
  runtime text,
  package_type text NOT NULL DEFAULT 'Zip',
  architecture text NOT NULL DEFAULT 'x86_64',
  memory_size integer NOT NULL DEFAULT 128,
  timeout integer NOT NULL DEFAULT 3,
  environment jsonb,
  tags jsonb,
  region text NOT NULL DEFAULT public.default_aws_region(),
  role_name text NOT NULL,
  CONSTRAINT lambda_function_pkey PRIMARY KEY (id),
  CONSTRAINT lambda_function_name_region_key UNIQUE (name, region),
  CONSTRAINT lambda_function_region_fkey FOREIGN KEY (region) REFERENCES public.aws_regions (region),
  CONSTRAINT lambda_function_role_name_fkey FOREIGN KEY (role_name) REFERENCES public.iam_role (role_name)
);
