-- Reads are plain SQL over the platform tables.
CREATE FUNCTION iasql_modules_installed()
RETURNS TABLE (module_name text, module_version text, dependencies text[])
LANGUAGE sql STABLE
AS $$
  SELECT m.name, m.version,
         coalesce(array_agg(d.dependency ORDER BY d.dependency) FILTER (WHERE d.dependency IS NOT NULL), '{}')
  FROM iasql_module m
  LEFT JOIN iasql_dependencies d ON d.module = m.name
  GROUP BY m.name, m.version
  ORDER BY m.name
$$;
COMMENT ON FUNCTION iasql_modules_installed() IS 'Installed modules with their exact versions and dependencies. Example: SELECT * FROM iasql_modules_installed();';
