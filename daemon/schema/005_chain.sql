-- History chains (rpc.Chain, history.Chain): a fingerprint of a position of
-- a history, so that a store restored from a backup of its real.db (same
-- history id, history grown again from an older last index) is told apart
-- from the history its peers followed.

-- Sender side: the chain value of each entry of our history (index_history
-- belongs to index/, so they live beside it), c_i = history.Chain(c_{i-1},
-- entry i). Filled lazily in index order (source.chainAt) from the trim
-- point on: rows of the history before this file are filled at the first
-- use, and trimming deletes them with the entries.
CREATE TABLE daemon_chain (
	idx   INTEGER PRIMARY KEY,
	chain BLOB    NOT NULL
);

-- The chain value at daemon_trim.through (the folded history). NULL: trimmed
-- before chains; the chain then goes on from a fixed value (legacyTrimChain).
ALTER TABLE daemon_trim ADD COLUMN chain BLOB;

-- Receiver side: the chain of the source peer's history that our progress
-- of it stands for, as the batch, report or pull reply that brought it
-- there carried it (through >= that progress). Written before the batch
-- or the report's end is applied (a crash in between leaves a chain past
-- the progress, which resumes after the progress, or a catch-up still open,
-- which asks for the report again; never a chain below the progress). No
-- row: none known (an older peer).
CREATE TABLE daemon_peer_chain (
	peer    TEXT    PRIMARY KEY,
	through INTEGER NOT NULL,
	chain   BLOB    NOT NULL
) WITHOUT ROWID;
