package real

import (
	"context"
	"fmt"
	"os"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
)

// Open opens the local file at arena/path for the store service: the
// plain (not metacopy) upper file, if the index says it is version b and
// its size and mtime still match. ErrNotFound when there is no such local
// file, ErrChanged when it is another version or changed since indexed.
func (r *Real) Open(arena, path string, b blob.Hash) (*os.File, error) {
	row, ok, err := r.ix.Get(context.Background(), arena, path)
	if err != nil {
		return nil, err
	}
	if !ok || row.Kind != index.File {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, arena, path)
	}
	if row.Blob != b {
		return nil, fmt.Errorf("%w: %s/%s is %.12s, not %.12s", ErrChanged, arena, path, row.Blob.String(), b.String())
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
