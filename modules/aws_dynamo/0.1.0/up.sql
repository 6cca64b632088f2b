-- One row per DynamoDB table (IaSQL's shape; unlike IaSQL, a name is unique per region).
CREATE TABLE public.dynamo_table (
  id serial NOT NULL,
  table_name text NOT NULL,
  table_class text NOT NULL DEFAULT 'STANDARD',
  -- "PAY_PER_REQUEST", or {"ReadCapacityUnits": n, "WriteCapacityUnits": n}
  throughput json NOT NULL DEFAULT '"PAY_PER_REQUEST"',
  -- Filled from the cloud.
  table_id text,
  -- Key attributes in order, hash key first: {"id": "S", "ts": "N"} (json keeps the order)
  primary_key json NOT NULL,
  -- Filled from the cloud.
  created_at timestamptz,
  region text NOT NULL DEFAULT public.default_aws_region(),
  CONSTRAINT dynamo_table_pkey PRIMARY KEY (id),
  CONSTRAINT dynamo_table_table_name_region_key UNIQUE (table_name, region),
  CONSTRAINT dynamo_table_region_fkey FOREIGN KEY (region) REFERENCES public.aws_regions (region)
);
