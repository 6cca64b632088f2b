-- Every row is rewritten: bytes become kilobytes.
ALTER TABLE public.bench_item ADD COLUMN size_kb integer;
UPDATE public.bench_item SET size_kb = (size_bytes / 1024)::integer;
ALTER TABLE public.bench_item ALTER COLUMN size_kb SET NOT NULL;
ALTER TABLE public.bench_item DROP COLUMN size_bytes;
