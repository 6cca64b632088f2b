DROP TABLE public.bench_tag;
DROP TABLE public.bench_owner;
DROP TABLE public.bench_item;
