-- The secret keys. Tenants have no access to this schema; the engine reads it to call AWS. (A
-- hook, not the migration: the migration's tables are the module's public tables.)
CREATE SCHEMA aws_account_secret;
CREATE TABLE aws_account_secret.secret_key (
  credentials_id integer NOT NULL PRIMARY KEY,
  secret_access_key text NOT NULL
);

-- Every region of the AWS commercial partition; us-east-1 is the default until changed.
INSERT INTO public.aws_regions (region, is_default) VALUES
  ('us-east-1', true), ('us-east-2', false), ('us-west-1', false), ('us-west-2', false),
  ('ca-central-1', false), ('sa-east-1', false),
  ('eu-west-1', false), ('eu-west-2', false), ('eu-west-3', false), ('eu-central-1', false), ('eu-north-1', false), ('eu-south-1', false),
  ('ap-south-1', false), ('ap-northeast-1', false), ('ap-northeast-2', false), ('ap-northeast-3', false),
  ('ap-southeast-1', false), ('ap-southeast-2', false), ('ap-east-1', false), ('me-south-1', false), ('af-south-1', false);

-- The secret key goes to aws_account_secret; the row keeps '********'. Runs before the audit
-- trigger, so the audit log never sees the key either.
CREATE FUNCTION aws_account_secret.keep_secret()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM aws_account_secret.secret_key WHERE credentials_id = OLD.id;
    RETURN OLD;
  END IF;
  IF NEW.secret_access_key IS NULL OR NEW.secret_access_key = '' THEN
    RAISE EXCEPTION 'aws_credentials.secret_access_key is required'
      USING ERRCODE = 'not_null_violation', HINT = 'INSERT INTO aws_credentials (access_key_id, secret_access_key) VALUES (''AKIA...'', ''...'')';
  END IF;
  -- The engine sends signed requests to this endpoint and shows what it answers: only endpoints
  -- the operator allows (IASQL_ALLOWED_ENDPOINTS; AWS's own and the engine's local cloud by default).
  IF NEW.endpoint IS NOT NULL AND NOT iasql_internal.endpoint_allowed(NEW.endpoint) THEN
    RAISE EXCEPTION 'aws_credentials.endpoint % is not an endpoint this engine allows', quote_literal(NEW.endpoint)
      USING ERRCODE = 'check_violation',
            HINT = format('use NULL for AWS, or one of: %s; the operator of the engine can allow others with IASQL_ALLOWED_ENDPOINTS', iasql_internal.allowed_endpoints());
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
    UPDATE aws_account_secret.secret_key SET credentials_id = NEW.id WHERE credentials_id = OLD.id;
  END IF;
  IF NEW.secret_access_key <> '********' THEN
    INSERT INTO aws_account_secret.secret_key (credentials_id, secret_access_key) VALUES (NEW.id, NEW.secret_access_key)
      ON CONFLICT (credentials_id) DO UPDATE SET secret_access_key = excluded.secret_access_key;
    NEW.secret_access_key := '********';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION aws_account_secret.keep_secret() FROM PUBLIC;
CREATE TRIGGER aws_credentials_keep_secret BEFORE INSERT OR UPDATE OR DELETE ON public.aws_credentials
  FOR EACH ROW EXECUTE FUNCTION aws_account_secret.keep_secret();

-- Only real regions: a region row is what the engine reads and writes in, on every sync.
CREATE FUNCTION aws_account_secret.known_region()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- The commercial partition's regions, the same list as the local cloud serves (src/localcloud/regions.ts).
  IF NOT (NEW.region = ANY (ARRAY['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'af-south-1',
      'ap-east-1', 'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
      'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
      'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3',
      'il-central-1', 'me-central-1', 'me-south-1', 'me-west-1', 'mx-central-1', 'sa-east-1', 'sa-west-1'])) THEN
    RAISE EXCEPTION 'aws_regions.region % is not an AWS region', coalesce(quote_literal(NEW.region), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'SELECT region FROM aws_regions lists the regions; enable one with UPDATE aws_regions SET is_enabled = true WHERE region = ...';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION aws_account_secret.known_region() FROM PUBLIC;
CREATE TRIGGER aws_regions_known BEFORE INSERT OR UPDATE OF region ON public.aws_regions
  FOR EACH ROW EXECUTE FUNCTION aws_account_secret.known_region();

-- At most one default region: setting one unsets the others.
CREATE FUNCTION aws_account_secret.one_default_region()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NEW.is_default THEN
    UPDATE public.aws_regions SET is_default = false WHERE region <> NEW.region AND is_default;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION aws_account_secret.one_default_region() FROM PUBLIC;
CREATE TRIGGER aws_regions_one_default AFTER INSERT OR UPDATE OF is_default ON public.aws_regions
  FOR EACH ROW WHEN (NEW.is_default) EXECUTE FUNCTION aws_account_secret.one_default_region();

CREATE FUNCTION public.default_aws_region()
RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT region FROM public.aws_regions WHERE is_default ORDER BY region LIMIT 1 $$;
COMMENT ON FUNCTION public.default_aws_region() IS 'The default region of regional tables (the column default of their region)
Example: SELECT default_aws_region();';

CREATE FUNCTION public.default_aws_region(p_region text)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM public.aws_regions WHERE region = p_region) THEN
    RAISE EXCEPTION 'unknown region ''%''', p_region USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT region FROM aws_regions lists them';
  END IF;
  UPDATE public.aws_regions SET is_default = (region = p_region), is_enabled = (is_enabled OR region = p_region);
  RETURN p_region;
END
$$;
COMMENT ON FUNCTION public.default_aws_region(text) IS 'Makes a region the default (and enables it)
Example: SELECT default_aws_region(''eu-west-1'');';

-- For the write-time checks of regional tables (aws_dynamo, aws_lambda, ...): one message and hint.
CREATE FUNCTION public.aws_check_region(p_column text, p_region text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  -- A region aws_regions does not list is no region to enable: say so, and list the enabled ones.
  IF NOT EXISTS (SELECT 1 FROM public.aws_regions WHERE region = p_region) THEN
    RAISE EXCEPTION '% % is not an AWS region', p_column, coalesce(quote_literal(p_region), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'SELECT region FROM aws_regions WHERE is_enabled lists the enabled regions';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM public.aws_regions WHERE region = p_region AND is_enabled) THEN
    RAISE EXCEPTION '% % is not an enabled region', p_column, coalesce(quote_literal(p_region), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'SELECT region FROM aws_regions WHERE is_enabled lists them; UPDATE aws_regions SET is_enabled = true WHERE region = ... enables one';
  END IF;
END
$$;
COMMENT ON FUNCTION public.aws_check_region(text, text) IS 'Raises check_violation unless the region is an enabled one (used by the checks of regional tables)
Example: SELECT aws_check_region(''dynamo_table.region'', ''eu-west-1'');';

-- With the engine's local cloud (embedded mode), a new database talks to it at once, with its
-- own local-cloud account (made with the database; nothing another database made is visible).
INSERT INTO public.aws_credentials (access_key_id, secret_access_key, endpoint)
SELECT access_key_id, secret_access_key, endpoint FROM iasql_internal.local_cloud_account();
