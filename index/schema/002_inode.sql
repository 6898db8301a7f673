-- Local files by inode: the other names of a hard-linked file that changed,
-- and the rows a renamed local file or directory had (hash reuse).
CREATE INDEX index_entry_inode ON index_entry(inode) WHERE kind = 1;
