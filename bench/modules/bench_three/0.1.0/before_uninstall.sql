DROP TRIGGER bench_item_touch ON bench_item;
DROP FUNCTION bench_item_touch();
DROP VIEW bench_item_summary;
