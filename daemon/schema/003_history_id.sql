-- History ids (rpc.CheckHistoryID). index/ owns this peer's history
-- (index_history, AUTOINCREMENT indexes) but not its identity, so the id
-- lives here: drawn once, at the first start of the daemon on this real.db
-- (daemon.historyID). A store that starts over (real.db deleted, `real init`
-- again with the same key) draws another one, and its peers, whose progress
-- stands for the old history, then ask it for a full report.
CREATE TABLE daemon_history (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	history_id TEXT    NOT NULL
);

-- Receiver side: the history id of the source peer that its progress
-- (unreal_progress) stands for. Written after that progress (a crash in
-- between costs a second full report, never a skipped entry). No row while
-- the progress is 0, or since before history ids.
CREATE TABLE daemon_peer_history (
	peer       TEXT PRIMARY KEY,
	history_id TEXT NOT NULL
) WITHOUT ROWID;
