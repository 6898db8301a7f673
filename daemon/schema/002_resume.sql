-- Sender side: a peer at `progress` (its unreal_progress of our history)
-- has everything of our history it wants through `through`: the entries
-- after progress up to through were all of arenas it does not take, so it
-- was never sent them and its progress could not move. A session that
-- finds the peer at `progress` resumes after `through` (without it, a peer
-- whose progress fell below our trimmed history this way got a full
-- report at every session).
CREATE TABLE daemon_resume (
	peer     TEXT    PRIMARY KEY,
	progress INTEGER NOT NULL,
	through  INTEGER NOT NULL
) WITHOUT ROWID;
