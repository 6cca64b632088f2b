CREATE TABLE public.bench_resource (
  id serial NOT NULL,
  name text NOT NULL,
  size integer NOT NULL DEFAULT 1,
  cloud_id text,
  CONSTRAINT bench_resource_pkey PRIMARY KEY (id),
  CONSTRAINT bench_resource_name_key UNIQUE (name)
);
