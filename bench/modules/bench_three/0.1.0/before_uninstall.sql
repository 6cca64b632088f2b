DROP TRIGGER bench_item_touch ON public.bench_item;
DROP FUNCTION public.bench_item_touch();
DROP VIEW public.bench_item_summary;
