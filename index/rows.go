package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/realsync/real/blob"
)

// Kind is the kind of an index row: what the upper entry (or the virtual
// entry derived from it) means.
type Kind int

// The kinds of row.
const (
	File     Kind = 1 // plain upper file: local content, Blob is its hash
	Meta     Kind = 2 // metacopy upper file: metadata-only change of a remote file; Blob is the remote blob of Origin
	Whiteout Kind = 3 // whiteout: the lower entry here was deleted; Blob is the remote file it hides, if any
	Dir      Kind = 4 // upper directory; Origin is its redirect, Opaque its opaque flag; Blob the remote file it replaced when made, if any
	Moved    Kind = 5 // virtual: a remote file shown here by a redirected directory; Blob is its blob, Origin its lower path
	Hidden   Kind = 6 // virtual: a remote file at this path hidden by a whiteout, opaque or redirected directory above it
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Meta:
		return "meta"
	case Whiteout:
		return "whiteout"
	case Dir:
		return "dir"
	case Moved:
		return "moved"
	case Hidden:
		return "hidden"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Row is one indexed entry. Stat fields (Size, Mtime, Ctime, Inode) are the
// upper entry's; for virtual rows Size and Mtime are the remote file's.
type Row struct {
	Arena  string
	Path   string
	Kind   Kind
	Size   int64
	Mtime  time.Time
	Ctime  time.Time
	Inode  uint64
	Blob   blob.Hash
	Origin string // Meta, Moved: lower path ("arena/path") of the content; Dir: raw redirect
	Opaque bool   // Dir: lower content hidden
}

// ErrBadChange is returned by Commit for a change set that cannot be stored.
var ErrBadChange = errors.New("invalid index change")

const rowCols = `arena, path, kind, size, mtime_ns, ctime_ns, inode, blob, origin, opaque`

type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (Row, error) {
	var r Row
	var mt, ct, ino int64
	var b []byte
	var opaque int
	if err := s.Scan(&r.Arena, &r.Path, &r.Kind, &r.Size, &mt, &ct, &ino, &b, &r.Origin, &opaque); err != nil {
		return Row{}, err
	}
	h, err := blob.FromBytes(b)
	if err != nil {
		return Row{}, fmt.Errorf("row %s/%s: %w", r.Arena, r.Path, err)
	}
	r.Blob = h
	r.Mtime = fromNanos(mt)
	r.Ctime = fromNanos(ct)
	r.Inode = uint64(ino)
	r.Opaque = opaque != 0
	return r, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Get returns the row at arena/path, if any.
func (ix *Index) Get(ctx context.Context, arena, path string) (Row, bool, error) {
	r, err := scanRow(ix.q.QueryRow(ctx,
		`SELECT `+rowCols+` FROM index_entry WHERE arena=? AND key=?`, arena, Key(path)))
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, false, nil
	}
	if err != nil {
		return Row{}, false, fmt.Errorf("index get %s/%s: %w", arena, path, err)
	}
	return r, true, nil
}

// scanChunk is how many rows Scan reads per query.
const scanChunk = 8192

// scanCols are the columns Scan reads: arena is known, path comes from
// key, the rest from the packed copy (one column costs far less to read
// than nine, and catch-up reads every row).
const scanCols = `packed, key`

// Scan calls fn for every row of arena at dir or under it ("" = the whole
// arena), in tree order. Rows are read in chunks, so fn may commit changes
// (to rows at or before the current one) while the scan goes on.
func (ix *Index) Scan(ctx context.Context, arena, dir string, fn func(Row) error) error {
	var lo, hi []byte // key range [lo, hi) of the subtree, after the dir row itself
	var after []byte
	if dir != "" {
		k := Key(dir)
		r, ok, err := ix.Get(ctx, arena, dir)
		if err != nil {
			return err
		}
		if ok {
			if err := fn(r); err != nil {
				return err
			}
		}
		lo = append(append([]byte{}, k...), 0)
		hi = append(append([]byte{}, k...), 1)
	}
	var chunk []Row // grown as needed: a watcher's scope is often one row
	for {
		var rows *sql.Rows
		var err error
		switch {
		case dir == "" && after == nil:
			rows, err = ix.q.Query(ctx, `SELECT `+scanCols+` FROM index_entry
				WHERE arena=? ORDER BY key LIMIT ?`, arena, scanChunk)
		case dir == "":
			rows, err = ix.q.Query(ctx, `SELECT `+scanCols+` FROM index_entry
				WHERE arena=? AND key>? ORDER BY key LIMIT ?`, arena, after, scanChunk)
		case after == nil:
			rows, err = ix.q.Query(ctx, `SELECT `+scanCols+` FROM index_entry
				WHERE arena=? AND key>=? AND key<? ORDER BY key LIMIT ?`, arena, lo, hi, scanChunk)
		default:
			rows, err = ix.q.Query(ctx, `SELECT `+scanCols+` FROM index_entry
				WHERE arena=? AND key>? AND key<? ORDER BY key LIMIT ?`, arena, after, hi, scanChunk)
		}
		if err != nil {
			return fmt.Errorf("index scan %s/%s: %w", arena, dir, err)
		}
		var key sql.RawBytes
		var packed sql.RawBytes
		for rows.Next() {
			var r Row
			if err := rows.Scan(&packed, &key); err != nil {
				rows.Close()
				return fmt.Errorf("index scan %s/%s: %w", arena, dir, err)
			}
			r.Arena = arena
			r.Path = keyPath(key)
			if err := unpackRow(packed, &r); err != nil {
				rows.Close()
				return fmt.Errorf("index scan %s/%s: row %s: %w", arena, dir, r.Path, err)
			}
			chunk = append(chunk, r)
		}
		if len(chunk) > 0 {
			after = Key(chunk[len(chunk)-1].Path)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("index scan %s/%s: %w", arena, dir, err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		chunk = chunk[:0]
	}
}

// Rows returns every row of arena under dir, in tree order (see Scan).
func (ix *Index) Rows(ctx context.Context, arena, dir string) ([]Row, error) {
	var out []Row
	err := ix.Scan(ctx, arena, dir, func(r Row) error { out = append(out, r); return nil })
	return out, err
}

// HasRows reports whether the index holds any row for arena.
func (ix *Index) HasRows(ctx context.Context, arena string) (bool, error) {
	var n int
	err := ix.q.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM index_entry WHERE arena=? LIMIT 1)`, arena).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("index rows of %s: %w", arena, err)
	}
	return n > 0, nil
}

// Count returns how many rows the index holds, over all arenas.
func (ix *Index) Count(ctx context.Context) (int, error) {
	var n int
	if err := ix.q.QueryRow(ctx, `SELECT count(*) FROM index_entry`).Scan(&n); err != nil {
		return 0, fmt.Errorf("index count: %w", err)
	}
	return n, nil
}

// Empty reports whether the index holds no row at all.
func (ix *Index) Empty(ctx context.Context) (bool, error) {
	var n int
	if err := ix.q.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM index_entry LIMIT 1)`).Scan(&n); err != nil {
		return false, fmt.Errorf("index empty: %w", err)
	}
	return n == 0, nil
}

// ByInode returns the local file rows (kind File) whose inode is one of
// inodes, in arena and tree order.
func (ix *Index) ByInode(ctx context.Context, inodes []uint64) ([]Row, error) {
	var out []Row
	seen := map[uint64]bool{}
	for _, ino := range inodes {
		if seen[ino] {
			continue
		}
		seen[ino] = true
		rows, err := ix.q.Query(ctx, `SELECT `+rowCols+` FROM index_entry WHERE inode=? AND kind=?`, int64(ino), int(File))
		if err != nil {
			return nil, fmt.Errorf("index by inode %d: %w", ino, err)
		}
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("index by inode %d: %w", ino, err)
			}
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("index by inode %d: %w", ino, err)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Arena != out[j].Arena {
			return out[i].Arena < out[j].Arena
		}
		return Less(out[i].Path, out[j].Path)
	})
	return out, nil
}

// ByOrigin returns the metacopy rows (kind Meta) whose data is the lower
// file origin ("arena/path"), in arena and tree order.
func (ix *Index) ByOrigin(ctx context.Context, origin string) ([]Row, error) {
	rows, err := ix.q.Query(ctx, `SELECT `+rowCols+` FROM index_entry WHERE origin=? AND kind=? ORDER BY arena, key`,
		origin, int(Meta))
	if err != nil {
		return nil, fmt.Errorf("index by origin %s: %w", origin, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("index by origin %s: %w", origin, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index by origin %s: %w", origin, err)
	}
	return out, nil
}

// Redirected returns the directory rows with an overlay redirect (kind
// Dir, Origin set), in arena and tree order.
func (ix *Index) Redirected(ctx context.Context) ([]Row, error) {
	rows, err := ix.q.Query(ctx, `SELECT `+rowCols+` FROM index_entry WHERE kind = 4 AND origin != '' ORDER BY arena, key`)
	if err != nil {
		return nil, fmt.Errorf("index redirected dirs: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("index redirected dirs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index redirected dirs: %w", err)
	}
	return out, nil
}
