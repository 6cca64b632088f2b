DROP FUNCTION public.aws_check_region(text, text);
DROP FUNCTION public.default_aws_region(text);
DROP FUNCTION public.default_aws_region();
DROP TRIGGER aws_credentials_keep_secret ON public.aws_credentials;
DROP TRIGGER aws_regions_one_default ON public.aws_regions;
DROP TRIGGER aws_regions_known ON public.aws_regions;
DROP SCHEMA aws_account_secret CASCADE;
