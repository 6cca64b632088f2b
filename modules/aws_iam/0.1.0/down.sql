DROP TABLE public.iam_role;
