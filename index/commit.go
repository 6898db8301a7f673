package index

import (
	"context"
	"fmt"

	"github.com/realsync/real/history"
	"github.com/realsync/real/tree"
)

// ChangeSet is what one decoding pass found: rows to store (inserted or
// replaced), rows to delete, and the history entries that describe the
// change to peers. Commit stores it all in one transaction.
type ChangeSet struct {
	Put     []Row
	Delete  []Row // only Arena and Path are used
	Entries []history.Entry
	// Conflicts are recorded with the change (remote changes met local ones).
	Conflicts []Conflict
}

// Empty reports whether the change set changes nothing.
func (cs *ChangeSet) Empty() bool {
	return len(cs.Put) == 0 && len(cs.Delete) == 0 && len(cs.Entries) == 0 && len(cs.Conflicts) == 0
}

// Commit applies cs in one transaction and returns its history entries
// with their Index set. Deletes are applied before puts.
func (ix *Index) Commit(ctx context.Context, cs ChangeSet) ([]history.Entry, error) {
	if cs.Empty() {
		return nil, nil
	}
	for _, r := range append(append([]Row{}, cs.Put...), cs.Delete...) {
		if err := tree.CheckArena(r.Arena); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadChange, err)
		}
		if err := tree.CheckPath(r.Path); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadChange, err)
		}
	}
	for _, e := range cs.Entries {
		if e.Kind < history.Link || e.Kind > history.Drop {
			return nil, fmt.Errorf("%w: entry %s/%s: kind %d", ErrBadChange, e.Arena, e.Path, int(e.Kind))
		}
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("index commit: %w", err)
	}
	defer tx.Rollback()
	if len(cs.Delete) > 0 {
		st, err := tx.PrepareContext(ctx, `DELETE FROM index_entry WHERE arena=? AND key=?`)
		if err != nil {
			return nil, fmt.Errorf("index commit: %w", err)
		}
		for _, r := range cs.Delete {
			if _, err := st.ExecContext(ctx, r.Arena, Key(r.Path)); err != nil {
				st.Close()
				return nil, fmt.Errorf("index delete %s/%s: %w", r.Arena, r.Path, err)
			}
		}
		st.Close()
	}
	if len(cs.Put) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO index_entry(key, `+rowCols+`, packed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return nil, fmt.Errorf("index commit: %w", err)
		}
		for _, r := range cs.Put {
			opaque := 0
			if r.Opaque {
				opaque = 1
			}
			if _, err := st.ExecContext(ctx, Key(r.Path), r.Arena, r.Path, int(r.Kind), r.Size,
				nanos(r.Mtime), nanos(r.Ctime), int64(r.Inode), r.Blob.Bytes(), r.Origin, opaque, packRow(r)); err != nil {
				st.Close()
				return nil, fmt.Errorf("index put %s/%s: %w", r.Arena, r.Path, err)
			}
		}
		st.Close()
	}
	out := make([]history.Entry, len(cs.Entries))
	if len(cs.Entries) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO index_history(kind, arena, path, mtime_ns, size, blob, prev_blob)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING idx`)
		if err != nil {
			return nil, fmt.Errorf("index commit: %w", err)
		}
		for i, e := range cs.Entries {
			var idx int64
			if err := st.QueryRowContext(ctx, int(e.Kind), e.Arena, e.Path, nanos(e.Mtime), e.Size,
				e.Blob.Bytes(), e.PrevBlob.Bytes()).Scan(&idx); err != nil {
				st.Close()
				return nil, fmt.Errorf("index history %s %s/%s: %w", e.Kind, e.Arena, e.Path, err)
			}
			e.Index = uint64(idx)
			out[i] = e
		}
		st.Close()
	}
	if err := insertConflicts(ctx, tx, cs.Conflicts); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("index commit: %w", err)
	}
	if len(out) > 0 {
		ix.notify()
	}
	return out, nil
}
