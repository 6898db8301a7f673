-- Conflicts between a remote change and a local one, kept for the user
-- (the local version is what the merged view shows).
CREATE TABLE index_conflict (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	arena       TEXT    NOT NULL,
	path        TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	local_blob  BLOB,
	remote_blob BLOB,
	remote_prev BLOB,
	time_ns     INTEGER NOT NULL
);
