package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/realsync/real/blob"
)

// Conflict kinds: a remote change met a local one at the same path.
const (
	ConflictRemoteDeleted = "remote-deleted" // remote Unlink of a locally modified file: the local version is kept
	ConflictRemoteChanged = "remote-changed" // remote Link on a locally modified file: the local version is shown
	ConflictLocalDeleted  = "local-deleted"  // remote Link of a file deleted locally: it stays deleted here
	ConflictMetadataLost  = "metadata-lost"  // remote Unlink of a file with a local metadata change (metacopy): the change is dropped
)

// Conflict is one recorded conflict.
type Conflict struct {
	ID         int64
	Arena      string
	Path       string
	Kind       string
	LocalBlob  blob.Hash // what the local side has (zero: deleted, or metadata only)
	RemoteBlob blob.Hash // what the remote change brings (zero: deleted)
	RemotePrev blob.Hash // what the remote change replaced
	Time       time.Time
}

func insertConflicts(ctx context.Context, tx *sql.Tx, cs []Conflict) error {
	if len(cs) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO index_conflict(arena, path, kind, local_blob, remote_blob, remote_prev, time_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("index conflicts: %w", err)
	}
	defer st.Close()
	for _, c := range cs {
		t := c.Time
		if t.IsZero() {
			t = time.Now()
		}
		if _, err := st.ExecContext(ctx, c.Arena, c.Path, c.Kind, c.LocalBlob.Bytes(), c.RemoteBlob.Bytes(), c.RemotePrev.Bytes(), t.UnixNano()); err != nil {
			return fmt.Errorf("index conflict %s/%s: %w", c.Arena, c.Path, err)
		}
	}
	return nil
}

// Conflicts returns the recorded conflicts, oldest first.
func (ix *Index) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := ix.q.Query(ctx, `SELECT id, arena, path, kind, local_blob, remote_blob, remote_prev, time_ns
		FROM index_conflict ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("index conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var lb, rb, rp []byte
		var t int64
		if err := rows.Scan(&c.ID, &c.Arena, &c.Path, &c.Kind, &lb, &rb, &rp, &t); err != nil {
			return nil, fmt.Errorf("index conflicts: %w", err)
		}
		for _, x := range []struct {
			b []byte
			h *blob.Hash
		}{{lb, &c.LocalBlob}, {rb, &c.RemoteBlob}, {rp, &c.RemotePrev}} {
			if *x.h, err = blob.FromBytes(x.b); err != nil {
				return nil, fmt.Errorf("index conflict %d: %w", c.ID, err)
			}
		}
		c.Time = time.Unix(0, t)
		out = append(out, c)
	}
	return out, rows.Err()
}
