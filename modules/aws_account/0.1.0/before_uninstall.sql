DROP FUNCTION default_aws_region(text);
DROP FUNCTION default_aws_region();
