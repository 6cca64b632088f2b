DROP TABLE bench_tag;
DROP TABLE bench_owner;
DROP TABLE bench_item;
