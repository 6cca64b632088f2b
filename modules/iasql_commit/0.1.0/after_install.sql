-- The audit trigger of module tables. It runs as its owner (the engine's role), so tenants can
-- write module tables while the log stays read-only to them. Trigger arguments name columns whose
-- values never reach the log (secrets): they are replaced by '[redacted]'.
CREATE FUNCTION iasql_audit_row()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_old jsonb;
  v_new jsonb;
  v_source text;
  v_col text;
BEGIN
  IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW); END IF;
  FOR i IN 0 .. TG_NARGS - 1 LOOP
    v_col := TG_ARGV[i];
    IF v_old IS NOT NULL AND v_old->>v_col IS NOT NULL THEN v_old := jsonb_set(v_old, ARRAY[v_col], '"[redacted]"'); END IF;
    IF v_new IS NOT NULL AND v_new->>v_col IS NOT NULL THEN v_new := jsonb_set(v_new, ARRAY[v_col], '"[redacted]"'); END IF;
  END LOOP;
  IF TG_OP = 'UPDATE' AND v_old = v_new THEN
    RETURN NULL;
  END IF;
  -- The database's owner is the tenant: what it does is user intent, whatever it sets. The engine
  -- (another role) names what it is doing in iasql.source.
  IF session_user = (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) THEN
    v_source := 'user';
  ELSE
    v_source := coalesce(nullif(current_setting('iasql.source', true), ''), 'user');
  END IF;
  INSERT INTO iasql_audit_log (table_name, change_type, change, source)
  VALUES (TG_TABLE_NAME, TG_OP, jsonb_build_object('original', v_old, 'change', v_new), v_source);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION iasql_audit_row() FROM PUBLIC;
