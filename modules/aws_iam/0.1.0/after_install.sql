-- Bad rows are refused when written, saying what to write instead.
CREATE FUNCTION public.iam_role_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_arn text;
BEGIN
  IF NEW.role_name IS NULL OR NEW.role_name !~ '^[A-Za-z0-9+=,.@_-]{1,64}$' THEN
    RAISE EXCEPTION 'iam_role.role_name % is not a valid role name', coalesce(quote_literal(NEW.role_name), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'use 1 to 64 characters: letters, digits and + = , . @ _ -';
  END IF;
  IF jsonb_typeof(NEW.assume_role_policy_document) IS DISTINCT FROM 'object' OR NOT (NEW.assume_role_policy_document ? 'Statement') THEN
    RAISE EXCEPTION 'iam_role.assume_role_policy_document must be a policy document (a JSON object with a Statement)'
      USING ERRCODE = 'check_violation',
            HINT = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}';
  END IF;
  IF NEW.description IS NOT NULL AND length(NEW.description) > 1000 THEN
    RAISE EXCEPTION 'iam_role.description is longer than 1000 characters' USING ERRCODE = 'check_violation';
  END IF;
  FOREACH v_arn IN ARRAY coalesce(NEW.attached_policies_arns, '{}') LOOP
    IF v_arn IS NULL OR v_arn !~ '^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/.+$' THEN
      RAISE EXCEPTION 'iam_role.attached_policies_arns: % is not a policy ARN', coalesce(quote_literal(v_arn), 'NULL')
        USING ERRCODE = 'check_violation', HINT = 'e.g. arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;
CREATE TRIGGER iam_role_check BEFORE INSERT OR UPDATE ON public.iam_role FOR EACH ROW EXECUTE FUNCTION public.iam_role_check();
