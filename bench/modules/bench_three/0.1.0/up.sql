CREATE TABLE public.bench_item (id serial PRIMARY KEY, name text NOT NULL, size_bytes bigint NOT NULL);
CREATE TABLE public.bench_owner (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE public.bench_tag (id serial PRIMARY KEY, label text NOT NULL);
