-- What a decoding pass compares, packed into one column: reading one blob
-- through the driver costs far less than nine columns (catch-up reads every
-- row of the index). Layout (big-endian), written by Commit (packRow):
--   kind u8, size i64, mtime_ns i64, ctime_ns i64, inode u64, opaque u8,
--   blob length u8 (0 or 32), blob, origin (the rest, UTF-8).
-- The other columns stay the truth for lookups and indexes; this copy is
-- rewritten with them on every put.
ALTER TABLE index_entry ADD COLUMN packed BLOB NOT NULL DEFAULT x'';
UPDATE index_entry SET packed =
	unhex(printf('%02x%016x%016x%016x%016x%02x%02x', kind, size, mtime_ns, ctime_ns, inode, opaque,
		coalesce(length(blob), 0)))
	|| coalesce(blob, x'') || CAST(origin AS BLOB);
