DROP TRIGGER iam_role_check ON public.iam_role;
DROP FUNCTION public.iam_role_check();
DROP FUNCTION public.iam_assume_role_actions();
