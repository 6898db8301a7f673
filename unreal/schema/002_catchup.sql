-- Full catch-up with a peer (mark/sweep): the peer's full report is staged
-- here, invisible to readers, and EndCatchUp replaces the peer's rows of
-- unreal_entries by it in one transaction.

-- Peers with a catch-up in progress (BeginCatchUp .. EndCatchUp).
CREATE TABLE unreal_catchup_open (
	peer    TEXT    NOT NULL PRIMARY KEY,
	started INTEGER NOT NULL -- Unix nanoseconds
) WITHOUT ROWID;

-- The files of a peer's full report so far.
CREATE TABLE unreal_catchup (
	peer  TEXT    NOT NULL,
	arena TEXT    NOT NULL,
	path  TEXT    NOT NULL,
	size  INTEGER NOT NULL,
	mtime INTEGER NOT NULL,
	blob  BLOB    NOT NULL,
	PRIMARY KEY (peer, arena, path)
) WITHOUT ROWID;
