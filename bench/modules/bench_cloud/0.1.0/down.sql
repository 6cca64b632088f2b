DROP TABLE bench_resource;
