-- Directories with an overlay redirect (renamed remote dirs): a remote
-- change under the lower dir one of them shows must re-decode it
-- (real.RemoteChanged), and there are few of them among many rows.
CREATE INDEX index_entry_redirect ON index_entry(arena, key) WHERE kind = 4 AND origin != '';
