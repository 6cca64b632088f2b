-- Bad rows are refused when written, saying what to write instead: what Lambda refuses, from the
-- lists below (docs/aws-modules.md, "What the write-time checks follow").

-- Lambda's runtimes, as of 2026-12-02: every value of the API's Runtime enum (@aws-sdk/client-lambda
-- 3.1162.0), 'supported' unless Lambda blocks creating and updating functions with it ('blocked',
-- with the runtime to move to). The local cloud's Lambda (src/localcloud/lambda-validate.ts) keeps
-- the same lists; test/aws_lambda.test.ts checks that they agree, and that the SDK's enum has no
-- runtime missing here.
CREATE FUNCTION public.lambda_runtimes()
RETURNS TABLE (runtime text, status text, successor text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  VALUES
    ('nodejs26.x', 'supported', NULL), ('nodejs24.x', 'supported', NULL), ('nodejs22.x', 'supported', NULL), ('nodejs20.x', 'supported', NULL),
    ('python3.15', 'supported', NULL), ('python3.14', 'supported', NULL), ('python3.13', 'supported', NULL), ('python3.12', 'supported', NULL),
    ('python3.11', 'supported', NULL), ('python3.10', 'supported', NULL), ('python3.9', 'supported', NULL),
    ('java25', 'supported', NULL), ('java21', 'supported', NULL), ('java17', 'supported', NULL), ('java17.al2023', 'supported', NULL),
    ('java11', 'supported', NULL), ('java11.al2023', 'supported', NULL), ('java8.al2', 'supported', NULL), ('java8.al2023', 'supported', NULL),
    ('dotnet10', 'supported', NULL), ('dotnet8', 'supported', NULL),
    ('ruby4.0', 'supported', NULL), ('ruby3.4', 'supported', NULL), ('ruby3.3', 'supported', NULL), ('ruby3.2', 'supported', NULL),
    ('provided.al2023', 'supported', NULL), ('provided.al2', 'supported', NULL),
    ('nodejs18.x', 'blocked', 'nodejs22.x'), ('nodejs16.x', 'blocked', 'nodejs22.x'), ('nodejs14.x', 'blocked', 'nodejs22.x'),
    ('nodejs12.x', 'blocked', 'nodejs22.x'), ('nodejs10.x', 'blocked', 'nodejs22.x'), ('nodejs8.10', 'blocked', 'nodejs22.x'),
    ('nodejs6.10', 'blocked', 'nodejs22.x'), ('nodejs4.3', 'blocked', 'nodejs22.x'), ('nodejs4.3-edge', 'blocked', 'nodejs22.x'), ('nodejs', 'blocked', 'nodejs22.x'),
    ('python3.8', 'blocked', 'python3.13'), ('python3.7', 'blocked', 'python3.13'), ('python3.6', 'blocked', 'python3.13'), ('python2.7', 'blocked', 'python3.13'),
    ('java8', 'blocked', 'java21'),
    ('dotnet6', 'blocked', 'dotnet8'), ('dotnetcore3.1', 'blocked', 'dotnet8'), ('dotnetcore2.1', 'blocked', 'dotnet8'), ('dotnetcore2.0', 'blocked', 'dotnet8'), ('dotnetcore1.0', 'blocked', 'dotnet8'),
    ('ruby2.7', 'blocked', 'ruby3.4'), ('ruby2.5', 'blocked', 'ruby3.4'),
    ('go1.x', 'blocked', 'provided.al2023'), ('provided', 'blocked', 'provided.al2023')
$$;
COMMENT ON FUNCTION public.lambda_runtimes() IS 'Lambda''s runtimes: supported, or blocked (no new or updated function may use it) with the runtime to move to
Example: SELECT runtime FROM lambda_runtimes() WHERE status = ''supported'';';

-- Environment variables Lambda sets itself: a function may not set them (Lambda's "Defined runtime
-- environment variables", reserved ones). Other AWS_LAMBDA_* names, such as AWS_LAMBDA_EXEC_WRAPPER,
-- are settable. The local cloud keeps the same list (checked by test/aws_lambda.test.ts).
CREATE FUNCTION public.lambda_reserved_environment_keys()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT ARRAY['_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
    'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME',
    'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
    'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR']
$$;
COMMENT ON FUNCTION public.lambda_reserved_environment_keys() IS 'Environment variables Lambda sets itself, which lambda_function.environment may not set
Example: SELECT unnest(lambda_reserved_environment_keys());';

CREATE FUNCTION public.lambda_function_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_runtime record;
  v_key text;
  v_value jsonb;
  v_reserved text[];
  v_size bigint;
  v_by_engine boolean;
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
      USING ERRCODE = 'not_null_violation', HINT = 'e.g. handler = ''index.handler'', runtime = ''nodejs22.x''';
  END IF;
  IF NEW.runtime IS NOT NULL THEN
    SELECT * INTO v_runtime FROM public.lambda_runtimes() r WHERE r.runtime = NEW.runtime;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'lambda_function.runtime % is not a Lambda runtime', quote_literal(NEW.runtime)
        USING ERRCODE = 'check_violation',
              HINT = 'use one of: ' || (SELECT string_agg(r.runtime, ', ') FROM public.lambda_runtimes() r WHERE r.status = 'supported');
    END IF;
    -- The engine writes what the cloud has (import, sync), deprecated runtimes included; a user
    -- may not create or change a function with one, as Lambda refuses both.
    v_by_engine := session_user = (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID);
    IF v_runtime.status = 'blocked' AND NOT v_by_engine THEN
      RAISE EXCEPTION 'lambda_function.runtime % is deprecated: Lambda no longer creates or updates functions with it', quote_literal(NEW.runtime)
        USING ERRCODE = 'check_violation',
              HINT = format('use %s (runtime = %L), or another of: %s', v_runtime.successor, v_runtime.successor,
                            (SELECT string_agg(r.runtime, ', ') FROM public.lambda_runtimes() r WHERE r.status = 'supported'));
    END IF;
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
  IF (NEW.environment IS NOT NULL AND jsonb_typeof(NEW.environment) <> 'object') OR (NEW.tags IS NOT NULL AND jsonb_typeof(NEW.tags) <> 'object') THEN
    RAISE EXCEPTION 'lambda_function: environment and tags must be JSON objects' USING ERRCODE = 'check_violation';
  END IF;
  FOR v_key, v_value IN SELECT * FROM jsonb_each(coalesce(NEW.environment, '{}')) UNION ALL SELECT * FROM jsonb_each(coalesce(NEW.tags, '{}')) LOOP
    IF jsonb_typeof(v_value) <> 'string' THEN
      RAISE EXCEPTION 'lambda_function: % must map to a string, not %', quote_literal(v_key), v_value::text
        USING ERRCODE = 'check_violation', HINT = 'environment and tags are JSON objects of strings: ''{"STAGE": "prod"}''';
    END IF;
  END LOOP;
  FOR v_key IN SELECT jsonb_object_keys(coalesce(NEW.environment, '{}')) LOOP
    IF v_key !~ '^[a-zA-Z][a-zA-Z0-9_]+$' THEN
      RAISE EXCEPTION 'lambda_function.environment: % is not a variable name Lambda accepts', quote_literal(v_key)
        USING ERRCODE = 'check_violation', HINT = 'a letter, then at least one letter, digit or underscore: ''{"STAGE": "prod"}''';
    END IF;
  END LOOP;
  SELECT array_agg(k ORDER BY k COLLATE "C") INTO v_reserved
  FROM jsonb_object_keys(coalesce(NEW.environment, '{}')) k WHERE k = ANY (public.lambda_reserved_environment_keys());
  IF v_reserved IS NOT NULL THEN
    RAISE EXCEPTION 'lambda_function.environment sets %, which Lambda reserves', array_to_string(v_reserved, ', ')
      USING ERRCODE = 'check_violation',
            DETAIL = 'Lambda sets these itself in every function: ' || array_to_string(public.lambda_reserved_environment_keys(), ', '),
            HINT = 'remove them from environment (the handler reads them, e.g. process.env.AWS_REGION); to pass your own value, use another name';
  END IF;
  -- Lambda's limit: 4 KB for all variables, measured as their compact JSON (the local cloud's checkVariables).
  SELECT 2 + coalesce(sum(octet_length(to_json(e.key)::text) + 1 + octet_length(e.value::text) + 1), 1) - 1 INTO v_size
  FROM jsonb_each(coalesce(NEW.environment, '{}')) e;
  IF v_size > 4096 THEN
    RAISE EXCEPTION 'lambda_function.environment is % bytes as JSON; Lambda allows 4096 (4 KB) for all variables together', v_size
      USING ERRCODE = 'check_violation', HINT = 'keep large or secret values elsewhere (a DynamoDB table, SSM Parameter Store) and put their name in a variable';
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
  -- Function names are case-sensitive (as Postgres compares text): 'Adder' and 'adder' are two functions.
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
