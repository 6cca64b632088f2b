DROP INDEX public.iam_role_role_name_lower_key;
