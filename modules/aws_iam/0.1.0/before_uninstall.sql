DROP TRIGGER iam_role_check ON iam_role;
DROP FUNCTION iam_role_check();
