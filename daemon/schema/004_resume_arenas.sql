-- Sender side: the arenas the peer took when its daemon_resume row was
-- written (a JSON array). "At progress P it has all it wants through T"
-- holds only for those arenas: a peer that asks for one more (at progress 0
-- it cannot tell us it needs a report) resumes from its own progress. Rows
-- from before this column ('') stand for no arena.
ALTER TABLE daemon_resume ADD COLUMN arenas TEXT NOT NULL DEFAULT '';
