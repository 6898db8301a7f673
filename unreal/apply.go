package unreal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/realsync/real/history"
	"github.com/realsync/real/tree"
)

// The mtimes the cache can store (Unix nanoseconds in an int64).
var (
	minMtime = time.Unix(0, math.MinInt64)
	maxMtime = time.Unix(0, math.MaxInt64)
)

// changeKind says how a path's shown state changed in an Apply.
type changeKind int

const (
	appeared changeKind = iota // the name is new in its directory
	removed                    // the name is gone from its directory
	modified                   // the file's served version changed
	listed                     // the directory stays, its listing (and mtime) changed
)

// change is one path whose shown state an Apply changed; the FUSE servers
// turn each into kernel cache invalidations once the transaction committed.
type change struct {
	full string // arena + "/" + path
	dir  bool
	kind changeKind
}

// Apply applies one batch of notifications from peer in one transaction:
// all of it or nothing. Every entry is validated first (history.Entry.Check,
// the arena must be configured: ErrUnknownArena; indexes strictly increasing
// and non-zero: ErrBadIndex). Entries with Index <= Progress(peer) are
// skipped, so a batch seen twice is harmless. The peer's progress becomes the
// last index, in the same transaction. After the commit the kernel caches of
// every touched path are invalidated. Apply returns the new progress.
//
// Link/Available replace the peer's entry unless its stored mtime is newer;
// Unlink/Drop remove it unless its stored mtime is newer than theirs.
func (c *Cache) Apply(ctx context.Context, peer string, batch []history.Entry) (uint64, error) {
	if peer == "" {
		return 0, fmt.Errorf("apply: %w: empty peer name", ErrBadEntry)
	}
	if err := c.checkEntries(batch, true); err != nil {
		return 0, fmt.Errorf("apply batch from %s: %w", peer, err)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("apply batch from %s: %w", peer, err)
	}
	defer tx.Rollback()
	progress, err := progressOf(ctx, tx, peer)
	if err != nil {
		return 0, fmt.Errorf("apply batch from %s: %w", peer, err)
	}
	if len(batch) == 0 || batch[len(batch)-1].Index <= progress {
		return progress, nil
	}
	a, err := c.newApplier(ctx, tx, peer)
	if err != nil {
		return 0, fmt.Errorf("apply batch from %s: %w", peer, err)
	}
	defer a.close()
	for i := range batch {
		e := &batch[i]
		if e.Index <= progress {
			continue
		}
		if err := a.apply(ctx, e); err != nil {
			return 0, fmt.Errorf("apply batch from %s: entry %d (%s %s/%s): %w", peer, e.Index, e.Kind, e.Arena, e.Path, err)
		}
	}
	last := batch[len(batch)-1].Index
	if _, err := tx.ExecContext(ctx, `INSERT INTO unreal_progress (peer, last) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET last = excluded.last`, peer, int64(last)); err != nil {
		return 0, fmt.Errorf("apply batch from %s: store progress: %w", peer, err)
	}
	a.close()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("apply batch from %s: commit: %w", peer, err)
	}
	for _, s := range c.mounted() {
		s.invalidate(a.changes)
	}
	return last, nil
}

// checkEntries validates every entry of a batch before anything is
// written; indexes says whether history indexes must be strictly increasing.
func (c *Cache) checkEntries(batch []history.Entry, indexes bool) error {
	now := c.now()
	var prev uint64
	for i := range batch {
		e := &batch[i]
		if indexes && (e.Index == 0 || e.Index <= prev) {
			return fmt.Errorf("%w: entry %d of the batch has index %d after %d", ErrBadIndex, i, e.Index, prev)
		}
		prev = e.Index
		if err := e.Check(now); err != nil {
			return fmt.Errorf("%w: entry %d: %w", ErrBadEntry, e.Index, err)
		}
		if e.Mtime.Before(minMtime) || e.Mtime.After(maxMtime) {
			return fmt.Errorf("%w: entry %d %q: mtime %s out of range", ErrBadEntry, e.Index, e.Path, e.Mtime)
		}
		if !c.arenaSet[e.Arena] {
			return fmt.Errorf("%w %q: entry %d (%s)", ErrUnknownArena, e.Arena, e.Index, e.Path)
		}
	}
	return nil
}

// Progress returns the last history index applied from peer (0 if none).
func (c *Cache) Progress(ctx context.Context, peer string) (uint64, error) {
	p, err := progressOf(ctx, c.db, peer)
	if err != nil {
		return 0, fmt.Errorf("progress of %s: %w", peer, err)
	}
	return p, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func progressOf(ctx context.Context, q queryer, peer string) (uint64, error) {
	var last int64
	err := q.QueryRowContext(ctx, `SELECT last FROM unreal_progress WHERE peer = ?`, peer).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(last), err
}

// applier applies the entries of one batch inside its transaction, with
// prepared statements, and collects the changes to invalidate.
type applier struct {
	c       *Cache
	tx      *sql.Tx
	peer    string
	stmts   []*sql.Stmt
	served  *sql.Stmt
	own     *sql.Stmt
	upsert  *sql.Stmt
	del     *sql.Stmt
	mkdir   *sql.Stmt
	bump    *sql.Stmt
	inode   *sql.Stmt
	hasKids *sql.Stmt
	rmdir   *sql.Stmt
	changes []change
}

func (c *Cache) newApplier(ctx context.Context, tx *sql.Tx, peer string) (*applier, error) {
	a := &applier{c: c, tx: tx, peer: peer}
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&a.served, qServed},
		{&a.own, `SELECT mtime FROM unreal_entries WHERE arena = ? AND path = ? AND peer = ?`},
		{&a.upsert, `INSERT INTO unreal_entries (arena, path, peer, dir, name, size, mtime, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (arena, path, peer) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, blob = excluded.blob`},
		{&a.del, `DELETE FROM unreal_entries WHERE arena = ? AND path = ? AND peer = ?`},
		{&a.mkdir, `INSERT OR IGNORE INTO unreal_dirs (path, parent, name, mtime) VALUES (?, ?, ?, ?)`},
		// A directory's mtime moves forward on every change of its listing,
		// to the change's mtime or by at least 1 ns: tools that compare
		// directory mtimes (make, rsync, caches) see every change.
		{&a.bump, `UPDATE unreal_dirs SET mtime = max(mtime + 1, ?) WHERE path = ?`},
		{&a.inode, `INSERT OR IGNORE INTO unreal_inodes (path, dir) VALUES (?, ?)`},
		{&a.hasKids, `SELECT EXISTS (SELECT 1 FROM unreal_entries WHERE dir = ?1) OR EXISTS (SELECT 1 FROM unreal_dirs WHERE parent = ?1)`},
		{&a.rmdir, `DELETE FROM unreal_dirs WHERE path = ? AND fixed = 0`},
	} {
		s, err := tx.PrepareContext(ctx, p.q)
		if err != nil {
			a.close()
			return nil, err
		}
		*p.s = s
		a.stmts = append(a.stmts, s)
	}
	return a, nil
}

func (a *applier) close() {
	for _, s := range a.stmts {
		s.Close()
	}
	a.stmts = nil
}

func (a *applier) apply(ctx context.Context, e *history.Entry) error {
	mt := e.Mtime.UnixNano()
	var own int64
	err := a.own.QueryRowContext(ctx, e.Arena, e.Path, a.peer).Scan(&own)
	has := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if e.Kind.HasContent() {
		if has && mt < own {
			return nil // older than what this peer already reported
		}
		return a.set(ctx, e.Arena, e.Path, &Entry{Size: e.Size, Mtime: e.Mtime, Blob: e.Blob}, mt)
	}
	if !has || own > mt {
		return nil // nothing from this peer, or its entry is newer than the removal
	}
	return a.set(ctx, e.Arena, e.Path, nil, mt)
}

// set makes next the peer's entry of (arena, path), or removes the peer's
// entry when next is nil, and records what that did to the shown tree:
// the name appeared, went away, or its served version changed. mt (Unix
// nanoseconds) is the time of the change, for the directory mtimes.
func (a *applier) set(ctx context.Context, arena, path string, next *Entry, mt int64) error {
	before, had, err := scanServed(a.served.QueryRowContext(ctx, arena, path))
	if err != nil {
		return err
	}
	full := tree.Join(arena, path)
	if next != nil {
		if _, err := a.upsert.ExecContext(ctx, arena, path, a.peer, parentOf(full), baseOf(full), next.Size, next.Mtime.UnixNano(), next.Blob[:]); err != nil {
			return err
		}
	} else if _, err := a.del.ExecContext(ctx, arena, path, a.peer); err != nil {
		return err
	}
	after, hasAfter, err := scanServed(a.served.QueryRowContext(ctx, arena, path))
	if err != nil {
		return err
	}
	switch {
	case !had && hasAfter:
		if _, err := a.inode.ExecContext(ctx, full, 0); err != nil {
			return err
		}
		a.changes = append(a.changes, change{full: full, kind: appeared})
		return a.mkdirs(ctx, parentOf(full), mt)
	case had && !hasAfter:
		a.changes = append(a.changes, change{full: full, kind: removed})
		return a.prune(ctx, parentOf(full), mt)
	case had && hasAfter && !sameVersion(before, after):
		a.changes = append(a.changes, change{full: full, kind: modified})
	}
	return nil
}

func sameVersion(a, b Entry) bool {
	return a.Blob == b.Blob && a.Size == b.Size && a.Mtime.Equal(b.Mtime)
}

// mkdirs makes d and its missing ancestors exist after a name appeared in d,
// and moves the mtime of the first directory whose listing changed but which
// already existed.
func (a *applier) mkdirs(ctx context.Context, d string, mt int64) error {
	for {
		res, err := a.mkdir.ExecContext(ctx, d, parentOf(d), baseOf(d), mt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return a.bumpDir(ctx, d, mt)
		}
		if _, err := a.inode.ExecContext(ctx, d, 1); err != nil {
			return err
		}
		a.changes = append(a.changes, change{full: d, dir: true, kind: appeared})
		d = parentOf(d) // d is new: its parent's listing changed too
	}
}

// prune removes d and its ancestors while they are empty and not fixed, after
// a name disappeared from d, and moves the mtime of the first one that stays.
func (a *applier) prune(ctx context.Context, d string, mt int64) error {
	for {
		var busy bool
		if err := a.hasKids.QueryRowContext(ctx, d).Scan(&busy); err != nil {
			return err
		}
		if busy || a.c.fixed[d] {
			return a.bumpDir(ctx, d, mt)
		}
		if _, err := a.rmdir.ExecContext(ctx, d); err != nil {
			return err
		}
		a.changes = append(a.changes, change{full: d, dir: true, kind: removed})
		d = parentOf(d)
	}
}

// bumpDir moves the mtime of the existing directory d, whose listing
// changed, and records it so that the kernel drops d's cached attributes.
func (a *applier) bumpDir(ctx context.Context, d string, mt int64) error {
	if _, err := a.bump.ExecContext(ctx, mt, d); err != nil {
		return err
	}
	a.changes = append(a.changes, change{full: d, dir: true, kind: listed})
	return nil
}
