-- The daemon's own tables: the peer-to-peer conversation's state.

-- Receiver side: the arenas that a source peer's progress (unreal_progress)
-- stands for. An arena configured here and missing from this set was added
-- since: the peer must send a full report before more history.
CREATE TABLE daemon_peer_arenas (
	peer  TEXT NOT NULL,
	arena TEXT NOT NULL,
	PRIMARY KEY (peer, arena)
) WITHOUT ROWID;

-- Sender side: this peer's history (index_history) was trimmed up to
-- `through` once every peer had acknowledged it.
CREATE TABLE daemon_trim (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL
);

-- Sender side: what the trimmed history said, folded: the files it left
-- this peer with (Link/Available not undone by a later Unlink/Drop), so
-- that a full report is base + the history after `through`.
CREATE TABLE daemon_base (
	arena     TEXT    NOT NULL,
	path      TEXT    NOT NULL,
	idx       INTEGER NOT NULL, -- the history entry it comes from
	kind      INTEGER NOT NULL,
	mtime_ns  INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	blob      BLOB    NOT NULL,
	prev_blob BLOB,
	PRIMARY KEY (arena, path)
) WITHOUT ROWID;
