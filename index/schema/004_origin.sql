-- Metacopy rows by the lower file they take their data from: the renamed
-- local metacopies that a remote change of that file must follow.
CREATE INDEX index_entry_origin ON index_entry(origin) WHERE kind = 2;
