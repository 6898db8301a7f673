-- The Unreal cache: what every peer reports, per (arena, path).

-- One row per file a peer reports. dir/name split the full path
-- (arena + '/' + path) so that a directory listing is one index range.
CREATE TABLE unreal_entries (
	arena TEXT    NOT NULL,
	path  TEXT    NOT NULL, -- relative to the arena
	peer  TEXT    NOT NULL,
	dir   TEXT    NOT NULL, -- full path of the parent directory
	name  TEXT    NOT NULL, -- last element of path
	size  INTEGER NOT NULL,
	mtime INTEGER NOT NULL, -- Unix nanoseconds
	blob  BLOB    NOT NULL, -- 32-byte BLAKE3-256
	PRIMARY KEY (arena, path, peer)
) WITHOUT ROWID;
CREATE INDEX unreal_entries_dir ON unreal_entries (dir, name);

-- Last applied history index per source peer.
CREATE TABLE unreal_progress (
	peer TEXT    NOT NULL PRIMARY KEY,
	last INTEGER NOT NULL
) WITHOUT ROWID;

-- Directories that currently exist: implied by the files below them, or
-- fixed (the root, every configured arena and every prefix of one).
CREATE TABLE unreal_dirs (
	path   TEXT    NOT NULL PRIMARY KEY, -- full path; '' is the root
	parent TEXT,                         -- full path of the parent; NULL for the root
	name   TEXT    NOT NULL,
	mtime  INTEGER NOT NULL,             -- Unix nanoseconds: newest change of the listing
	fixed  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX unreal_dirs_parent ON unreal_dirs (parent, name);

-- Persistent inode numbers: a full path keeps its st_ino across restarts
-- (overlayfs relies on it). Keyed by kind too, so a path that turns from
-- file into directory gets a fresh number instead of changing type under
-- the same inode. Rows are never deleted: numbers are never reused.
CREATE TABLE unreal_inodes (
	ino  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	path TEXT    NOT NULL,
	dir  INTEGER NOT NULL, -- 1 directory, 0 file
	UNIQUE (path, dir)
);
INSERT INTO unreal_inodes (ino, path, dir) VALUES (1, '', 1);
