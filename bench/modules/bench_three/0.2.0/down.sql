ALTER TABLE public.bench_item ADD COLUMN size_bytes bigint;
UPDATE public.bench_item SET size_bytes = size_kb::bigint * 1024;
ALTER TABLE public.bench_item ALTER COLUMN size_bytes SET NOT NULL;
ALTER TABLE public.bench_item DROP COLUMN size_kb;
