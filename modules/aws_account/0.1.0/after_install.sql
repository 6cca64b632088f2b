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
  IF NOT EXISTS (SELECT 1 FROM public.aws_regions WHERE region = p_region AND is_enabled) THEN
    RAISE EXCEPTION '% % is not an enabled region', p_column, coalesce(quote_literal(p_region), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'SELECT region FROM aws_regions WHERE is_enabled lists them; UPDATE aws_regions SET is_enabled = true WHERE region = ... enables one';
  END IF;
END
$$;
COMMENT ON FUNCTION public.aws_check_region(text, text) IS 'Raises check_violation unless the region is an enabled one (used by the checks of regional tables)
Example: SELECT aws_check_region(''dynamo_table.region'', ''eu-west-1'');';

-- On the engine's local cloud (embedded mode), a new database talks to it at once, with
-- throw-away credentials. The engine names the endpoint for the install's transaction.
INSERT INTO public.aws_credentials (access_key_id, secret_access_key, endpoint)
SELECT 'local', 'local-secret-key', current_setting('iasql.local_cloud_endpoint', true)
WHERE coalesce(current_setting('iasql.local_cloud_endpoint', true), '') <> '';
