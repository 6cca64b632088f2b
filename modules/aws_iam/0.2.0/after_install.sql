-- Bad rows are refused when written, saying what to write instead. What IAM refuses, as IAM says
-- it (docs/aws-modules.md, "Name rules" and "What the write-time checks follow").

-- The actions a trust policy may name: IAM refuses any other ("AssumeRole policy may only specify
-- STS AssumeRole actions"). The local cloud's IAM (src/localcloud/iam-policy.ts) keeps the same
-- list; test/aws_iam.test.ts checks that they agree.
CREATE FUNCTION public.iam_assume_role_actions()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['sts:AssumeRole', 'sts:AssumeRoleWithSAML', 'sts:AssumeRoleWithWebIdentity', 'sts:TagSession', 'sts:SetSourceIdentity', 'sts:SetContext'] $$;
COMMENT ON FUNCTION public.iam_assume_role_actions() IS 'The actions a role''s trust policy (assume_role_policy_document) may name; * and ? wildcards match them
Example: SELECT unnest(iam_assume_role_actions());';

CREATE FUNCTION public.iam_role_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_arn text;
  v_twin record;
  v_doc jsonb := NEW.assume_role_policy_document;
  v_statement jsonb;
  v_action jsonb;
  v_example constant text := '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}';
BEGIN
  IF NEW.role_name IS NULL OR NEW.role_name !~ '^[A-Za-z0-9+=,.@_-]{1,64}$' THEN
    RAISE EXCEPTION 'iam_role.role_name % is not a valid role name', coalesce(quote_literal(NEW.role_name), 'NULL')
      USING ERRCODE = 'check_violation', HINT = 'use 1 to 64 characters: letters, digits and + = , . @ _ -';
  END IF;
  -- IAM role names are unique within the account regardless of case (the unique index on
  -- lower(role_name) holds it between concurrent transactions; this says which row has the name).
  SELECT id, role_name INTO v_twin FROM public.iam_role WHERE lower(role_name) = lower(NEW.role_name) AND id <> NEW.id LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'iam_role.role_name %: the role % (iam_role id %) already has this name', quote_literal(NEW.role_name), quote_literal(v_twin.role_name), v_twin.id
      USING ERRCODE = 'unique_violation',
            DETAIL = 'IAM role names are unique within an account regardless of case: both rows would be the same role',
            HINT = format('change that row (UPDATE iam_role SET ... WHERE role_name = %L), or choose a name that differs from it in more than case', v_twin.role_name);
  END IF;
  IF jsonb_typeof(v_doc) IS DISTINCT FROM 'object' OR NOT (v_doc ? 'Statement') THEN
    RAISE EXCEPTION 'iam_role.assume_role_policy_document must be a policy document (a JSON object with a Statement)'
      USING ERRCODE = 'check_violation', HINT = v_example;
  END IF;
  -- IAM's limit for a trust policy: 2048 characters, white space not counted (the local cloud's TRUST_POLICY_MAX_CHARS).
  IF length(regexp_replace(v_doc::text, '\s', '', 'g')) > 2048 THEN
    RAISE EXCEPTION 'iam_role.assume_role_policy_document is % characters long (white space not counted); IAM allows 2048', length(regexp_replace(v_doc::text, '\s', '', 'g'))
      USING ERRCODE = 'check_violation', HINT = 'name fewer principals or conditions per statement, e.g. one statement with a list of principals';
  END IF;
  IF v_doc ? 'Version' AND NOT (v_doc->'Version' IN ('"2012-10-17"', '"2008-10-17"')) THEN
    RAISE EXCEPTION 'iam_role.assume_role_policy_document: Version % is not a policy language version', v_doc->>'Version'
      USING ERRCODE = 'check_violation', HINT = '"Version": "2012-10-17"';
  END IF;
  FOR v_statement IN SELECT s FROM jsonb_array_elements(CASE jsonb_typeof(v_doc->'Statement') WHEN 'array' THEN v_doc->'Statement' ELSE jsonb_build_array(v_doc->'Statement') END) s LOOP
    IF jsonb_typeof(v_statement) <> 'object' OR NOT (v_statement->'Effect' IN ('"Allow"', '"Deny"')) THEN
      RAISE EXCEPTION 'iam_role.assume_role_policy_document: the statement % needs an Effect of "Allow" or "Deny"', v_statement::text
        USING ERRCODE = 'check_violation', HINT = v_example;
    END IF;
    IF v_statement ?| ARRAY['Resource', 'NotResource'] THEN
      RAISE EXCEPTION 'iam_role.assume_role_policy_document: a trust policy statement has no Resource (the role is the resource)'
        USING ERRCODE = 'check_violation', HINT = 'remove "Resource" from the statement ' || v_statement::text;
    END IF;
    IF NOT (v_statement ?| ARRAY['Principal', 'NotPrincipal']) OR NOT (v_statement ?| ARRAY['Action', 'NotAction']) THEN
      RAISE EXCEPTION 'iam_role.assume_role_policy_document: the statement % needs a Principal (who may assume the role) and an Action', v_statement::text
        USING ERRCODE = 'check_violation', HINT = v_example;
    END IF;
    FOR v_action IN SELECT a FROM jsonb_array_elements(CASE jsonb_typeof(coalesce(v_statement->'Action', v_statement->'NotAction')) WHEN 'array' THEN coalesce(v_statement->'Action', v_statement->'NotAction') ELSE jsonb_build_array(coalesce(v_statement->'Action', v_statement->'NotAction')) END) a LOOP
      -- An action is '*', or 'sts:' and a name that, with * and ? as wildcards (case-insensitive as in IAM), matches an assume-role action.
      IF jsonb_typeof(v_action) <> 'string' OR NOT (v_action #>> '{}' = '*' OR (lower(v_action #>> '{}') ~ '^sts:[a-z*?]+$' AND EXISTS (
          SELECT 1 FROM unnest(public.iam_assume_role_actions()) allowed
          WHERE lower(allowed) ~ ('^' || replace(replace(lower(v_action #>> '{}'), '*', '.*'), '?', '.') || '$')))) THEN
        RAISE EXCEPTION 'iam_role.assume_role_policy_document: % is not an action a trust policy may name', v_action::text
          USING ERRCODE = 'check_violation',
                DETAIL = 'IAM refuses it: AssumeRole policy may only specify STS AssumeRole actions.',
                HINT = 'use ' || array_to_string(public.iam_assume_role_actions(), ', ') || ' (usually "sts:AssumeRole"); what the role may do goes in attached_policies_arns';
      END IF;
    END LOOP;
  END LOOP;
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
