-- Engine SQL of every managed database, version 6: what the operator decided, for module SQL.
--
-- The engine writes these settings into every database at create and at each start
-- (src/databases/settings.ts). Tenants cannot read iasql_internal; module SQL that runs as the
-- engine role (hooks, SECURITY DEFINER triggers) reads them through the functions below, which
-- are the engine's SQL interface for modules (docs/module-authoring.md).
CREATE TABLE iasql_internal.engine_setting (
  name text PRIMARY KEY,
  value jsonb NOT NULL
);

-- Whether an endpoint URL is one the operator allows (IASQL_ALLOWED_ENDPOINTS, the local cloud).
-- Patterns are origins (scheme://host[:port]); a host may start with '*.' (any subdomain). A URL
-- matches when its scheme, host and port equal a pattern's and it has no path beyond '/', no
-- credentials, query or fragment.
CREATE FUNCTION iasql_internal.endpoint_allowed(p_url text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_m text[] := regexp_match(lower(p_url), '^(https?)://([a-z0-9.-]+|\[[0-9a-f:]+\])(?::([0-9]{1,5}))?/?$');
  v_p text[];
  v_pattern text;
  v_port text;
BEGIN
  IF v_m IS NULL THEN
    RETURN false;
  END IF;
  v_port := coalesce(v_m[3], CASE v_m[1] WHEN 'https' THEN '443' ELSE '80' END);
  FOR v_pattern IN SELECT jsonb_array_elements_text(coalesce((SELECT value FROM iasql_internal.engine_setting WHERE name = 'allowed_endpoints'), '[]')) LOOP
    v_p := regexp_match(lower(v_pattern), '^(https?)://(\*\.)?([a-z0-9.-]+|\[[0-9a-f:]+\])(?::([0-9]{1,5}))?/?$');
    CONTINUE WHEN v_p IS NULL OR v_p[1] <> v_m[1] OR coalesce(v_p[4], CASE v_p[1] WHEN 'https' THEN '443' ELSE '80' END) <> v_port;
    IF v_p[2] IS NULL AND v_m[2] = v_p[3] THEN
      RETURN true;
    END IF;
    IF v_p[2] IS NOT NULL AND right(v_m[2], length(v_p[3]) + 1) = '.' || v_p[3] THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$$;

-- The allowed endpoints, for messages.
CREATE FUNCTION iasql_internal.allowed_endpoints()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(string_agg(e, ', '), 'none') FROM jsonb_array_elements_text(coalesce((SELECT value FROM iasql_internal.engine_setting WHERE name = 'allowed_endpoints'), '[]')) e $$;

-- This database's own account in the engine's local cloud, when the engine runs one (no row otherwise).
CREATE FUNCTION iasql_internal.local_cloud_account(OUT endpoint text, OUT access_key_id text, OUT secret_access_key text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT value->>'endpoint', value->>'accessKeyId', value->>'secretAccessKey' FROM iasql_internal.engine_setting WHERE name = 'local_cloud' $$;

REVOKE ALL ON FUNCTION iasql_internal.endpoint_allowed(text), iasql_internal.allowed_endpoints(), iasql_internal.local_cloud_account() FROM PUBLIC;
REVOKE ALL ON TABLE iasql_internal.engine_setting FROM PUBLIC;
