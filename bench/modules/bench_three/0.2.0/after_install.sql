CREATE VIEW public.bench_item_summary AS SELECT count(*) AS items, coalesce(sum(size_kb), 0) AS kilobytes FROM public.bench_item;
CREATE FUNCTION public.bench_item_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := trim(NEW.name); RETURN NEW; END $$;
CREATE TRIGGER bench_item_touch BEFORE INSERT OR UPDATE ON public.bench_item FOR EACH ROW EXECUTE FUNCTION public.bench_item_touch();
