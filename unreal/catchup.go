package unreal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/realsync/real/history"
)

// ErrNoCatchUp: CatchUpReport or EndCatchUp without a BeginCatchUp for the peer.
var ErrNoCatchUp = errors.New("no catch-up in progress")

// CatchUpResult says what a full catch-up changed in a peer's entries.
type CatchUpResult struct {
	Added, Changed, Removed int // entries of the peer, not shown names
	// Changes are the catch-up as notifications, one per path whose entry
	// of the peer changed: a Link with the reported version, an Unlink for
	// a removed one (for the Real's RemoteChanged, as after Apply).
	Changes []history.Entry
}

// BeginCatchUp starts a full catch-up with peer (mark/sweep), used when the
// history the cache needs from that peer was lost or trimmed: the peer then
// reports every file it has (CatchUpReport, in as many batches as needed)
// and EndCatchUp replaces all the peer's entries by that report in one
// transaction. Until EndCatchUp, the report is staged apart and readers see
// the peer's old entries: they never see a half state. Beginning again
// discards a report in progress (e.g. one cut short by a crash).
func (c *Cache) BeginCatchUp(ctx context.Context, peer string) error {
	if peer == "" {
		return fmt.Errorf("begin catch-up: %w: empty peer name", ErrBadEntry)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin catch-up with %s: %w", peer, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM unreal_catchup WHERE peer = ?`, peer); err != nil {
		return fmt.Errorf("begin catch-up with %s: %w", peer, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO unreal_catchup_open (peer, started) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET started = excluded.started`, peer, c.now().UnixNano()); err != nil {
		return fmt.Errorf("begin catch-up with %s: %w", peer, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("begin catch-up with %s: %w", peer, err)
	}
	return nil
}

// CatchUpReport adds a batch of the peer's full report to the catch-up in
// progress. Link/Available entries are files the peer has (when the report
// names a path twice, the newest mtime wins); an Unlink/Drop takes a path
// out of the report. Indexes are ignored. Every entry is validated as in
// Apply; a bad entry rejects the batch and stages nothing of it.
func (c *Cache) CatchUpReport(ctx context.Context, peer string, batch []history.Entry) error {
	if err := c.checkEntries(batch, false); err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	defer tx.Rollback()
	if err := catchUpOpen(ctx, tx, peer); err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO unreal_catchup (peer, arena, path, size, mtime, blob) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (peer, arena, path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, blob = excluded.blob
		WHERE excluded.mtime >= unreal_catchup.mtime`)
	if err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	defer put.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM unreal_catchup WHERE peer = ? AND arena = ? AND path = ?`)
	if err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	defer del.Close()
	for i := range batch {
		e := &batch[i]
		if e.Kind.HasContent() {
			_, err = put.ExecContext(ctx, peer, e.Arena, e.Path, e.Size, e.Mtime.UnixNano(), e.Blob[:])
		} else {
			_, err = del.ExecContext(ctx, peer, e.Arena, e.Path)
		}
		if err != nil {
			return fmt.Errorf("catch-up report from %s: %s/%s: %w", peer, e.Arena, e.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catch-up report from %s: %w", peer, err)
	}
	return nil
}

// EndCatchUp ends the catch-up with peer: in one transaction, every entry of
// the peer becomes what its report says (files it did not report are
// removed, reported ones replace the stored ones whatever their mtimes: the
// report is the peer's present state), and the peer's progress becomes
// progress (the last index of the history the report stands for; it may be
// lower than before when the peer's history started again). Then the kernel
// caches of the changed paths are invalidated, as after Apply.
func (c *Cache) EndCatchUp(ctx context.Context, peer string, progress uint64) (CatchUpResult, error) {
	var res CatchUpResult
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
	}
	defer tx.Rollback()
	if err := catchUpOpen(ctx, tx, peer); err != nil {
		return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
	}
	gone, err := staleKeys(ctx, tx, peer)
	if err != nil {
		return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
	}
	news, err := reportedChanges(ctx, tx, peer)
	if err != nil {
		return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
	}
	a, err := c.newApplier(ctx, tx, peer)
	if err != nil {
		return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
	}
	defer a.close()
	now := c.now().UnixNano()
	for _, k := range gone {
		if err := a.set(ctx, k.arena, k.path, nil, now); err != nil {
			return res, fmt.Errorf("end catch-up with %s: remove %s/%s: %w", peer, k.arena, k.path, err)
		}
		res.Removed++
		res.Changes = append(res.Changes, history.Entry{Kind: history.Unlink, Arena: k.arena, Path: k.path, Mtime: time.Unix(0, now)})
	}
	for _, r := range news {
		if err := a.set(ctx, r.arena, r.path, &r.e, r.e.Mtime.UnixNano()); err != nil {
			return res, fmt.Errorf("end catch-up with %s: %s/%s: %w", peer, r.arena, r.path, err)
		}
		if r.existed {
			res.Changed++
		} else {
			res.Added++
		}
		res.Changes = append(res.Changes, history.Entry{Kind: history.Link, Arena: r.arena, Path: r.path,
			Mtime: r.e.Mtime, Size: r.e.Size, Blob: r.e.Blob})
	}
	a.close()
	for _, q := range []string{
		`DELETE FROM unreal_catchup WHERE peer = ?`,
		`DELETE FROM unreal_catchup_open WHERE peer = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, peer); err != nil {
			return res, fmt.Errorf("end catch-up with %s: %w", peer, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO unreal_progress (peer, last) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET last = excluded.last`, peer, int64(progress)); err != nil {
		return res, fmt.Errorf("end catch-up with %s: store progress: %w", peer, err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("end catch-up with %s: commit: %w", peer, err)
	}
	for _, s := range c.mounted() {
		s.invalidate(a.changes)
	}
	return res, nil
}

// Replace is a whole catch-up with peer in one call: BeginCatchUp,
// CatchUpReport(full), EndCatchUp(progress).
func (c *Cache) Replace(ctx context.Context, peer string, full []history.Entry, progress uint64) (CatchUpResult, error) {
	if err := c.BeginCatchUp(ctx, peer); err != nil {
		return CatchUpResult{}, err
	}
	if err := c.CatchUpReport(ctx, peer, full); err != nil {
		return CatchUpResult{}, err
	}
	return c.EndCatchUp(ctx, peer, progress)
}

// CatchingUp reports whether a catch-up with peer is in progress (begun,
// not ended), e.g. after a restart that interrupted one.
func (c *Cache) CatchingUp(ctx context.Context, peer string) (bool, error) {
	err := catchUpOpen(ctx, c.db, peer)
	if errors.Is(err, ErrNoCatchUp) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("catch-up state of %s: %w", peer, err)
	}
	return true, nil
}

func catchUpOpen(ctx context.Context, q queryer, peer string) error {
	var started int64
	err := q.QueryRowContext(ctx, `SELECT started FROM unreal_catchup_open WHERE peer = ?`, peer).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w with %s", ErrNoCatchUp, peer)
	}
	return err
}

type pathKey struct{ arena, path string }

// staleKeys returns the peer's entries its report does not name.
func staleKeys(ctx context.Context, tx *sql.Tx, peer string) ([]pathKey, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.arena, e.path FROM unreal_entries e WHERE e.peer = ?1
		AND NOT EXISTS (SELECT 1 FROM unreal_catchup c WHERE c.peer = ?1 AND c.arena = e.arena AND c.path = e.path)`, peer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pathKey
	for rows.Next() {
		var k pathKey
		if err := rows.Scan(&k.arena, &k.path); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

type reported struct {
	arena, path string
	e           Entry
	existed     bool
}

// reportedChanges returns the reported files that differ from the peer's
// stored entries (new, or another size, mtime or blob).
func reportedChanges(ctx context.Context, tx *sql.Tx, peer string) ([]reported, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.arena, c.path, c.size, c.mtime, c.blob, e.path IS NOT NULL FROM unreal_catchup c
		LEFT JOIN unreal_entries e ON e.arena = c.arena AND e.path = c.path AND e.peer = c.peer
		WHERE c.peer = ? AND (e.path IS NULL OR e.size != c.size OR e.mtime != c.mtime OR e.blob != c.blob)`, peer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reported
	for rows.Next() {
		var r reported
		var mt int64
		var b []byte
		if err := rows.Scan(&r.arena, &r.path, &r.e.Size, &mt, &b, &r.existed); err != nil {
			return nil, err
		}
		r.e.Mtime = time.Unix(0, mt)
		copy(r.e.Blob[:], b)
		out = append(out, r)
	}
	return out, rows.Err()
}
