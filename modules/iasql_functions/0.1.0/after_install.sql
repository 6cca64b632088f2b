-- Reads are plain SQL over the platform tables.
-- Every function names its tables with their schema and runs with a fixed search_path: nothing
-- a tenant creates in public is resolved from it.
CREATE FUNCTION public.iasql_modules_installed()
RETURNS TABLE (module_name text, module_version text, dependencies text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT m.name, m.version,
         coalesce(array_agg(d.dependency ORDER BY d.dependency) FILTER (WHERE d.dependency IS NOT NULL), '{}')
  FROM iasql_engine.iasql_module m
  LEFT JOIN iasql_engine.iasql_dependencies d ON d.module = m.name
  GROUP BY m.name, m.version
  ORDER BY m.name
$$;
COMMENT ON FUNCTION public.iasql_modules_installed() IS 'Installed modules with their exact versions and dependencies
Example: SELECT * FROM iasql_modules_installed();';

CREATE FUNCTION public.iasql_get_errors()
RETURNS TABLE (opid text, module_name text, method_name text, params jsonb, err text, start_date timestamptz, end_date timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT r.opid, r.module_name, r.method_name, r.params, r.err, r.start_date, r.end_date
  FROM iasql_engine.iasql_rpc r WHERE r.err IS NOT NULL ORDER BY r.start_date DESC
$$;
COMMENT ON FUNCTION public.iasql_get_errors() IS 'The rpc calls of this database that ended in an error, newest first
Example: SELECT * FROM iasql_get_errors();';

-- Every function the installed modules provide: those the engine created (owned by the engine's
-- role, which owns the database; the tenant's own functions are not listed) with a comment.
CREATE FUNCTION public.iasql_help()
RETURNS TABLE (name text, signature text, description text, sample_usage text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.proname::text,
         format('%s(%s) RETURNS %s', p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid)),
         split_part(d.description, E'\nExample: ', 1),
         nullif(split_part(d.description, E'\nExample: ', 2), '')
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public'
  JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass
  WHERE p.proowner = (SELECT datdba FROM pg_database WHERE datname = current_database())
  ORDER BY 1, 2
$$;
COMMENT ON FUNCTION public.iasql_help() IS 'Every function of the installed modules: name, signature, description, sample usage
Example: SELECT * FROM iasql_help();';
