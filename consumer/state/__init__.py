"""Card-history state the running services keep: one store per assigned input partition
(RocksDB on local disk, the embedded default; memory for tests) or one shared Redis the
stream writes and the API reads. The scoring core never touches a store: the stream
hands it card states read here and writes back what it returns (stream/history.py)."""
