-- IAM roles (global, like IAM itself): IaSQL's shape.
CREATE TABLE public.iam_role (
  id serial NOT NULL,
  role_name text NOT NULL,
  -- Filled from the cloud.
  arn text,
  assume_role_policy_document jsonb NOT NULL,
  description text,
  attached_policies_arns text[],
  CONSTRAINT iam_role_pkey PRIMARY KEY (id),
  CONSTRAINT iam_role_role_name_key UNIQUE (role_name)
);
