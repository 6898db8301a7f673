package real

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
	"github.com/realsync/real/tree"
)

// Open opens the local file at arena/path for the store service: the
// plain (not metacopy) upper file, if the index says it is version b and
// its size and mtime still match. ErrNotFound when there is no such local
// file, ErrChanged when it is another version or changed since indexed.
//
// A remote file renamed here (a metacopy with a redirect, or a file of a
// remote dir renamed here) is announced at its new path with its blob
// (DESIGN.md: no data moves), but its bytes are still only in the lower
// layer: Open serves them from there (openLower), so that the other peers,
// which know the file only at its new path, can read it. This peer relays
// them from the peer its Unreal reads; a choice, against telling the
// reader where else the blob is (a protocol of its own), until stage 4
// finds content by blob.
func (r *Real) Open(arena, path string, b blob.Hash) (*os.File, error) {
	row, ok, err := r.ix.Get(context.Background(), arena, path)
	if err != nil {
		return nil, err
	}
	if !ok || (row.Kind != index.File && row.Kind != index.Meta && row.Kind != index.Moved) {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, arena, path)
	}
	if row.Blob != b {
		return nil, fmt.Errorf("%w: %s/%s is %.12s, not %.12s", ErrChanged, arena, path, row.Blob.String(), b.String())
	}
	if row.Kind != index.File {
		return r.openLower(row)
	}
	full := r.upperPath(arena, path)
	f, err := os.Open(full)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %s/%s is gone", ErrChanged, arena, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open local %s/%s: %w", arena, path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open local %s/%s: %w", arena, path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != row.Size || !fi.ModTime().Equal(row.Mtime) {
		f.Close()
		return nil, fmt.Errorf("%w: %s/%s changed since it was indexed", ErrChanged, arena, path)
	}
	return f, nil
}

// openLower opens the lower file (in the Unreal mount) that holds the data
// of row, a metacopy or a file of a renamed dir, if the lower still shows
// version row.Blob there, before and after the open: a file opened in the
// Unreal reads the version it was opened at, whole, so the one opened in
// between is that version. (The reader checks the bytes against the blob
// too.)
func (r *Real) openLower(row index.Row) (*os.File, error) {
	arena, rel, ok := tree.Split(r.l.Arenas, row.Origin)
	if !ok || r.l.Lower == "" {
		return nil, fmt.Errorf("%w: %s/%s: its data, at %q, is outside the arenas", ErrNotFound, row.Arena, row.Path, row.Origin)
	}
	shows := func() error {
		f, ok, err := r.remote.Lookup(context.Background(), arena, rel)
		switch {
		case err != nil:
			return fmt.Errorf("open %s/%s: lower %s: %w", row.Arena, row.Path, row.Origin, err)
		case !ok:
			return fmt.Errorf("%w: %s/%s: no peer has its data (%s) any more", ErrChanged, row.Arena, row.Path, row.Origin)
		case f.Blob != row.Blob:
			return fmt.Errorf("%w: %s/%s: its data (%s) is %.12s now", ErrChanged, row.Arena, row.Path, row.Origin, f.Blob.String())
		}
		return nil
	}
	if err := shows(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(r.l.Lower, filepath.FromSlash(row.Origin)))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %s/%s: its data (%s) is gone", ErrChanged, row.Arena, row.Path, row.Origin)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s/%s: lower %s: %w", row.Arena, row.Path, row.Origin, err)
	}
	if err := shows(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
