DROP TABLE public.bench_resource;
