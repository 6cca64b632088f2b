-- Bad rows are refused when written, saying what to write instead.
CREATE FUNCTION public.lambda_function_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_runtimes text[] := ARRAY['nodejs', 'nodejs4.3', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs12.x', 'nodejs14.x', 'nodejs16.x', 'nodejs18.x', 'nodejs20.x', 'nodejs22.x',
    'java8', 'java8.al2', 'java11', 'java17', 'java21', 'python2.7', 'python3.6', 'python3.7', 'python3.8', 'python3.9', 'python3.10', 'python3.11', 'python3.12', 'python3.13',
    'dotnetcore1.0', 'dotnetcore2.0', 'dotnetcore2.1', 'dotnetcore3.1', 'dotnet6', 'dotnet8', 'nodejs4.3-edge', 'go1.x', 'ruby2.5', 'ruby2.7', 'ruby3.2', 'ruby3.3', 'provided', 'provided.al2', 'provided.al2023'];
  v_key text;
  v_value jsonb;
BEGIN
  IF NEW.name IS NULL OR NEW.name !~ '^[A-Za-z0-9_-]{1,64}$' THEN
    RAISE EXCEPTION 'lambda_function.name % is not a valid function name', coalesce(quote_literal(NEW.name), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'use 1 to 64 characters: letters, digits, hyphen, underscore';
  END IF;
  IF NEW.package_type NOT IN ('Zip', 'Image') THEN
    RAISE EXCEPTION 'lambda_function.package_type % is not Zip or Image', quote_literal(NEW.package_type) USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.package_type = 'Zip' AND (NEW.handler IS NULL OR NEW.runtime IS NULL) THEN
    RAISE EXCEPTION 'lambda_function % needs a handler and a runtime (package_type Zip)', quote_literal(NEW.name)
      USING ERRCODE = 'not_null_violation', HINT = 'e.g. handler = ''index.handler'', runtime = ''nodejs20.x''';
  END IF;
  IF NEW.runtime IS NOT NULL AND NOT (NEW.runtime = ANY (v_runtimes)) THEN
    RAISE EXCEPTION 'lambda_function.runtime % is not a Lambda runtime', quote_literal(NEW.runtime)
      USING ERRCODE = 'check_violation', HINT = 'e.g. nodejs20.x, nodejs22.x, python3.12';
  END IF;
  IF NEW.handler IS NOT NULL AND NEW.handler !~ '^[^\s]{1,128}$' THEN
    RAISE EXCEPTION 'lambda_function.handler % is not a handler', quote_literal(NEW.handler) USING ERRCODE = 'check_violation', HINT = 'file.export, e.g. index.handler';
  END IF;
  IF NEW.architecture NOT IN ('x86_64', 'arm64') THEN
    RAISE EXCEPTION 'lambda_function.architecture % is not x86_64 or arm64', quote_literal(NEW.architecture) USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.memory_size NOT BETWEEN 128 AND 10240 THEN
    RAISE EXCEPTION 'lambda_function.memory_size % is outside 128 to 10240 (MB)', NEW.memory_size USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.timeout NOT BETWEEN 1 AND 900 THEN
    RAISE EXCEPTION 'lambda_function.timeout % is outside 1 to 900 (seconds)', NEW.timeout USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.version <> '$LATEST' THEN
    RAISE EXCEPTION 'lambda_function.version must be $LATEST (published versions are not modelled)' USING ERRCODE = 'check_violation';
  END IF;
  FOR v_key, v_value IN SELECT * FROM jsonb_each(coalesce(NEW.environment, '{}')) UNION ALL SELECT * FROM jsonb_each(coalesce(NEW.tags, '{}')) LOOP
    IF jsonb_typeof(v_value) <> 'string' THEN
      RAISE EXCEPTION 'lambda_function: % must map to a string, not %', quote_literal(v_key), v_value::text
        USING ERRCODE = 'check_violation', HINT = 'environment and tags are JSON objects of strings: ''{"STAGE": "prod"}''';
    END IF;
  END LOOP;
  IF (NEW.environment IS NOT NULL AND jsonb_typeof(NEW.environment) <> 'object') OR (NEW.tags IS NOT NULL AND jsonb_typeof(NEW.tags) <> 'object') THEN
    RAISE EXCEPTION 'lambda_function: environment and tags must be JSON objects' USING ERRCODE = 'check_violation';
  END IF;
  PERFORM public.aws_check_region('lambda_function.region', NEW.region);
  -- Code is needed to create a function (imports by the engine come without it).
  IF TG_OP = 'INSERT' AND NEW.zip_b64 IS NULL AND NEW.package_type = 'Zip' AND NEW.arn IS NULL THEN
    RAISE EXCEPTION 'lambda_function % has no code: set zip_b64', quote_literal(NEW.name)
      USING ERRCODE = 'not_null_violation', HINT = 'zip_b64 = lambda_zip(''{"index.js": "exports.handler = async (e) => e"}'')';
  END IF;
  IF NEW.zip_b64 IS NOT NULL AND NEW.zip_b64 !~ '^[A-Za-z0-9+/]+={0,2}$' THEN
    RAISE EXCEPTION 'lambda_function.zip_b64 is not base64' USING ERRCODE = 'check_violation', HINT = 'lambda_zip(...) builds one from sources';
  END IF;
  IF EXISTS (SELECT 1 FROM public.lambda_function WHERE name = NEW.name AND region = NEW.region AND id <> NEW.id) THEN
    RAISE EXCEPTION 'a Lambda function named % already exists in %', quote_literal(NEW.name), NEW.region
      USING ERRCODE = 'unique_violation', HINT = 'function names are unique per region';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER lambda_function_check BEFORE INSERT OR UPDATE ON public.lambda_function FOR EACH ROW EXECUTE FUNCTION public.lambda_function_check();

-- lambda_zip over rows of (path, content): SELECT lambda_zip(path, content) FROM my_sources.
CREATE FUNCTION public.lambda_zip_step(p_state jsonb, p_path text, p_content text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF p_state ? p_path THEN
    RAISE EXCEPTION 'lambda_zip: path % appears twice', quote_literal(p_path) USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN p_state || jsonb_build_object(p_path, p_content);
END
$$;
CREATE FUNCTION public.lambda_zip_final(p_state jsonb)
RETURNS text
LANGUAGE plpgsql
AS $$ BEGIN RETURN public.lambda_zip(p_state); END $$;
CREATE AGGREGATE public.lambda_zip(text, text) (SFUNC = public.lambda_zip_step, STYPE = jsonb, INITCOND = '{}', FINALFUNC = public.lambda_zip_final);
COMMENT ON AGGREGATE public.lambda_zip(text, text) IS 'A Lambda zip (base64) from rows of (path, content)
Example: SELECT lambda_zip(path, content) FROM my_sources;';
