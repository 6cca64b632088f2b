-- IAM role names are unique regardless of case within an account: 'LAMBDA-BASIC' is the role
-- 'lambda-basic'. A database holding two such rows cannot upgrade: say which, and what to do.
DO $$
DECLARE
  v_twins text;
BEGIN
  SELECT string_agg(names, '; ') INTO v_twins
  FROM (SELECT string_agg(quote_literal(role_name), ' and ' ORDER BY role_name) AS names
        FROM public.iam_role GROUP BY lower(role_name) HAVING count(*) > 1) t;
  IF v_twins IS NOT NULL THEN
    RAISE EXCEPTION 'iam_role holds role names that differ only in case: %', v_twins
      USING ERRCODE = 'unique_violation',
            HINT = 'IAM treats them as one role: delete or rename all but one of each (DELETE FROM iam_role WHERE role_name = ...), then upgrade again';
  END IF;
END
$$;
-- The check trigger names the row that has the name; this index also holds between concurrent transactions.
CREATE UNIQUE INDEX iam_role_role_name_lower_key ON public.iam_role (lower(role_name));
