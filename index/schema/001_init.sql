-- The index: one row per decoded entry of the overlay upper (and per virtual
-- entry derived from it: a remote file moved or hidden by a directory's
-- overlay facts), keyed by arena and path key (path with '/' as NUL, so
-- that byte order is tree order).
CREATE TABLE index_entry (
	arena    TEXT    NOT NULL,
	key      BLOB    NOT NULL,
	path     TEXT    NOT NULL,
	kind     INTEGER NOT NULL,
	size     INTEGER NOT NULL DEFAULT 0,
	mtime_ns INTEGER NOT NULL DEFAULT 0,
	ctime_ns INTEGER NOT NULL DEFAULT 0,
	inode    INTEGER NOT NULL DEFAULT 0,
	blob     BLOB,
	origin   TEXT    NOT NULL DEFAULT '',
	opaque   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (arena, key)
) WITHOUT ROWID;

-- This peer's own notifications, in the order recorded. AUTOINCREMENT so an
-- index is never reused, even after trimming.
CREATE TABLE index_history (
	idx       INTEGER PRIMARY KEY AUTOINCREMENT,
	kind      INTEGER NOT NULL,
	arena     TEXT    NOT NULL,
	path      TEXT    NOT NULL,
	mtime_ns  INTEGER NOT NULL,
	size      INTEGER NOT NULL DEFAULT 0,
	blob      BLOB,
	prev_blob BLOB
);

-- Sender-side progress: the last history index each peer acknowledged.
CREATE TABLE index_acked (
	peer TEXT    PRIMARY KEY,
	idx  INTEGER NOT NULL
) WITHOUT ROWID;
