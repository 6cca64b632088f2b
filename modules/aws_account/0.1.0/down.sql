DROP TABLE public.aws_regions;
DROP TABLE public.aws_credentials;
