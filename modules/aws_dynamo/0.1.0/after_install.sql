-- Bad rows are refused when they are written, with what is wrong and what to write instead, never
-- half-applied at commit.
CREATE FUNCTION public.dynamo_table_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_key text;
  v_value json;
  v_keys integer := 0;
BEGIN
  IF NEW.table_name IS NULL OR NEW.table_name !~ '^[A-Za-z0-9_.-]{3,255}$' THEN
    RAISE EXCEPTION 'dynamo_table.table_name % is not a valid DynamoDB table name', coalesce(quote_literal(NEW.table_name), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'use 3 to 255 characters: letters, digits, underscore, dot, dash';
  END IF;
  IF NEW.table_class NOT IN ('STANDARD', 'STANDARD_INFREQUENT_ACCESS') THEN
    RAISE EXCEPTION 'dynamo_table.table_class % is not a table class', quote_literal(NEW.table_class)
      USING ERRCODE = 'check_violation', HINT = 'use STANDARD or STANDARD_INFREQUENT_ACCESS';
  END IF;
  IF json_typeof(NEW.throughput) = 'string' AND NEW.throughput::text = '"PAY_PER_REQUEST"' THEN
    NULL;
  ELSIF json_typeof(NEW.throughput) = 'object'
    AND (SELECT array_agg(k ORDER BY k) FROM json_object_keys(NEW.throughput) k) = ARRAY['ReadCapacityUnits', 'WriteCapacityUnits']
    AND json_typeof(NEW.throughput->'ReadCapacityUnits') = 'number' AND json_typeof(NEW.throughput->'WriteCapacityUnits') = 'number'
    AND (NEW.throughput->>'ReadCapacityUnits') ~ '^[1-9][0-9]*$' AND (NEW.throughput->>'WriteCapacityUnits') ~ '^[1-9][0-9]*$' THEN
    NULL;
  ELSE
    RAISE EXCEPTION 'dynamo_table.throughput % is neither on-demand nor provisioned capacity', NEW.throughput::text
      USING ERRCODE = 'check_violation',
            HINT = 'use ''"PAY_PER_REQUEST"'' or ''{"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}'' (whole numbers, at least 1)';
  END IF;
  IF json_typeof(NEW.primary_key) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'dynamo_table.primary_key % is not a JSON object', coalesce(NEW.primary_key::text, 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'name the hash key, then optionally the range key, with their types: ''{"id": "S", "ts": "N"}''';
  END IF;
  FOR v_key, v_value IN SELECT * FROM json_each(NEW.primary_key) LOOP
    v_keys := v_keys + 1;
    IF json_typeof(v_value) <> 'string' OR v_value::text NOT IN ('"S"', '"N"', '"B"') OR v_key !~ '^.{1,255}$' THEN
      RAISE EXCEPTION 'dynamo_table.primary_key: key % has type %, not S, N or B', quote_literal(v_key), v_value::text
        USING ERRCODE = 'check_violation', HINT = 'key attribute types are "S" (string), "N" (number) or "B" (binary)';
    END IF;
  END LOOP;
  IF v_keys NOT IN (1, 2) OR (SELECT count(DISTINCT k) FROM json_object_keys(NEW.primary_key) k) <> v_keys THEN
    RAISE EXCEPTION 'dynamo_table.primary_key % must name one or two distinct keys', NEW.primary_key::text
      USING ERRCODE = 'check_violation', HINT = 'a hash key, and optionally a range key: ''{"id": "S"}'' or ''{"id": "S", "ts": "N"}''';
  END IF;
  PERFORM public.aws_check_region('dynamo_table.region', NEW.region);
  IF EXISTS (SELECT 1 FROM public.dynamo_table WHERE table_name = NEW.table_name AND region = NEW.region AND id <> NEW.id) THEN
    RAISE EXCEPTION 'a DynamoDB table named % already exists in %', quote_literal(NEW.table_name), NEW.region
      USING ERRCODE = 'unique_violation', HINT = 'table names are unique per region: pick another name or region';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER dynamo_table_check BEFORE INSERT OR UPDATE ON public.dynamo_table FOR EACH ROW EXECUTE FUNCTION public.dynamo_table_check();
