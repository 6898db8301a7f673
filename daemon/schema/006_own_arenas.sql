-- Sender side: the arenas this peer shared (real.toml) when it last started,
-- as a JSON array. No row: not recorded yet (a store from before this file).
CREATE TABLE daemon_own_arenas (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	arenas TEXT    NOT NULL
);

-- Sender side: the peers that must get a full report at their next session:
-- this peer's own arenas changed since they were sent history (an arena
-- taken out: its files must leave their view; one put back: its files that
-- did not change since are in no history after their progress). A row goes
-- once that report was sent in full.
CREATE TABLE daemon_report_due (
	peer TEXT PRIMARY KEY
) WITHOUT ROWID;
