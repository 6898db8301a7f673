package index

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
)

// Since returns up to limit history entries with Index > after, in order
// (limit <= 0: no limit).
func (ix *Index) Since(ctx context.Context, after uint64, limit int) ([]history.Entry, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := ix.q.Query(ctx, `SELECT idx, kind, arena, path, mtime_ns, size, blob, prev_blob
		FROM index_history WHERE idx>? ORDER BY idx LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("history since %d: %w", after, err)
	}
	defer rows.Close()
	var out []history.Entry
	for rows.Next() {
		var e history.Entry
		var idx, mt int64
		var b, pb []byte
		if err := rows.Scan(&idx, &e.Kind, &e.Arena, &e.Path, &mt, &e.Size, &b, &pb); err != nil {
			return nil, fmt.Errorf("history since %d: %w", after, err)
		}
		e.Index = uint64(idx)
		e.Mtime = fromNanos(mt)
		if e.Blob, err = blob.FromBytes(b); err != nil {
			return nil, fmt.Errorf("history entry %d: %w", idx, err)
		}
		if e.PrevBlob, err = blob.FromBytes(pb); err != nil {
			return nil, fmt.Errorf("history entry %d: %w", idx, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history since %d: %w", after, err)
	}
	return out, nil
}

// Last returns the index of the last history entry, 0 when there is none.
func (ix *Index) Last(ctx context.Context) (uint64, error) {
	var n int64
	if err := ix.q.QueryRow(ctx, `SELECT coalesce(max(idx), 0) FROM index_history`).Scan(&n); err != nil {
		return 0, fmt.Errorf("history last: %w", err)
	}
	return uint64(n), nil
}

// Acked returns the last history index peer acknowledged (0: none).
func (ix *Index) Acked(ctx context.Context, peer string) (uint64, error) {
	var n int64
	err := ix.q.QueryRow(ctx, `SELECT coalesce((SELECT idx FROM index_acked WHERE peer=?), 0)`, peer).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("acked by %s: %w", peer, err)
	}
	return uint64(n), nil
}

// SetAcked records that peer acknowledged history up to idx (replacing what
// was stored: a peer that lost its state may start again from lower).
func (ix *Index) SetAcked(ctx context.Context, peer string, idx uint64) error {
	if peer == "" {
		return fmt.Errorf("set acked: empty peer name")
	}
	_, err := ix.db.ExecContext(ctx, `INSERT INTO index_acked(peer, idx) VALUES (?, ?)
		ON CONFLICT(peer) DO UPDATE SET idx=excluded.idx`, peer, int64(idx))
	if err != nil {
		return fmt.Errorf("set acked by %s to %d: %w", peer, idx, err)
	}
	return nil
}

// Span returns the lowest and highest history index held and how many
// entries there are (all 0 for an empty history); hi-lo+1 != n is a gap.
func (ix *Index) Span(ctx context.Context) (lo, hi uint64, n int, err error) {
	var l, h, c int64
	if err := ix.q.QueryRow(ctx, `SELECT coalesce(min(idx), 0), coalesce(max(idx), 0), count(*) FROM index_history`).Scan(&l, &h, &c); err != nil {
		return 0, 0, 0, fmt.Errorf("history span: %w", err)
	}
	return uint64(l), uint64(h), int(c), nil
}

// TrimTx deletes the history entries up to and including through inside
// tx, so that a caller folding them elsewhere commits both together.
func TrimTx(ctx context.Context, tx *sql.Tx, through uint64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM index_history WHERE idx <= ?`, int64(through)); err != nil {
		return fmt.Errorf("trim history through %d: %w", through, err)
	}
	return nil
}
