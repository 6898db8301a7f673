package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
	"github.com/realsync/real/real"
)

// lower answers what the Unreal cache (tables unreal_* of the same
// database) holds, read-only; a database without them has an empty lower.
type lower struct {
	db      *sql.DB
	present bool
}

func newLower(ctx context.Context, db *sql.DB) (*lower, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('unreal_entries','unreal_dirs')`).Scan(&n)
	if err != nil {
		return nil, err
	}
	return &lower{db: db, present: n == 2}, nil
}

// file returns the served version of the lower file at full ("arena/path").
func (l *lower) file(ctx context.Context, arena, path string) (size int64, b blob.Hash, ok bool, err error) {
	if !l.present {
		return 0, b, false, nil
	}
	var raw []byte
	err = l.db.QueryRowContext(ctx, `SELECT size, blob FROM unreal_entries WHERE arena=? AND path=?
		ORDER BY mtime DESC, peer LIMIT 1`, arena, path).Scan(&size, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, b, false, nil
	}
	if err != nil {
		return 0, b, false, err
	}
	b, err = blob.FromBytes(raw)
	return size, b, err == nil, err
}

// dir reports whether the lower has a directory at full ("arena/dir").
func (l *lower) dir(ctx context.Context, full string) (bool, error) {
	if !l.present {
		return false, nil
	}
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM unreal_dirs WHERE path=?`, full).Scan(&n)
	return n > 0, err
}

// exists reports whether the lower has a file or a directory at full.
func (l *lower) exists(ctx context.Context, arenas []string, full string) (bool, error) {
	if d, err := l.dir(ctx, full); err != nil || d {
		return d, err
	}
	for _, a := range arenas {
		if strings.HasPrefix(full, a+"/") {
			_, _, ok, err := l.file(ctx, a, full[len(a)+1:])
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// checkUpper decodes every entry of each arena of the upper as the Real
// would, and reports what points at nothing, is inconsistent with the lower,
// or cannot be decoded.
func checkUpper(ctx context.Context, db *sql.DB, ix *index.Index, upper string, arenas []string, add func(code, path, detail string)) error {
	lo, err := newLower(ctx, db)
	if err != nil {
		return err
	}
	for _, a := range arenas {
		root := filepath.Join(upper, filepath.FromSlash(a))
		lowerOf := map[string]string{root: a} // merged dir (full upper path) -> lower dir it merges ("" none)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p != root {
					add(CodeUnreadable, p, err.Error())
				}
				return nil
			}
			if p == root {
				return nil
			}
			parentLower := lowerOf[filepath.Dir(p)]
			natural := ""
			if parentLower != "" {
				natural = parentLower + "/" + d.Name()
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				add(CodeUnreadable, p, err.Error())
				return nil
			}
			f, err := real.ReadUpperFacts(p, false) // the daemon's overlay: trusted.overlay.*
			if err != nil {
				add(CodeUnreadable, p, err.Error())
				return nil
			}
			switch st.Mode & syscall.S_IFMT {
			case syscall.S_IFDIR:
				lowerOf[p] = natural
				switch {
				case f.HasRedirect:
					target, err := real.ResolveRedirect(f.Redirect, parentLower)
					if err != nil {
						add(CodeUndecodable, p, err.Error())
						lowerOf[p] = ""
						break
					}
					lowerOf[p] = target
					if ok, err := lo.dir(ctx, target); err != nil {
						return err
					} else if !ok {
						add(CodeRedirectMissing, p, fmt.Sprintf("directory redirect to %q: the lower has no such directory", target))
					}
				case f.Opaque:
					lowerOf[p] = ""
				}
			case syscall.S_IFCHR:
				if st.Rdev != 0 {
					add(CodeUndecodable, p, "device file in the upper")
				} else if err := whiteoutOver(ctx, lo, ix, a, arenas, root, natural, p, add); err != nil {
					return err
				}
			case syscall.S_IFREG:
				switch {
				case f.Whiteout && st.Size == 0:
					return whiteoutOver(ctx, lo, ix, a, arenas, root, natural, p, add)
				case f.Whiteout:
					add(CodeUndecodable, p, fmt.Sprintf("overlay.whiteout on a file of %d bytes", st.Size))
				case f.Metacopy:
					origin := natural
					if f.HasRedirect {
						if origin, err = real.ResolveRedirect(f.Redirect, parentLower); err != nil {
							add(CodeUndecodable, p, err.Error())
							return nil
						}
					}
					return checkMetacopy(ctx, lo, ix, a, arenas, p, root, origin, st.Size, add)
				}
			case syscall.S_IFLNK:
				add(CodeUndecodable, p, "symbolic link in the upper (not synced)")
			default:
				add(CodeUndecodable, p, "fifo or socket in the upper (not synced)")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// whiteoutOver reports a whiteout over nothing, unless the index records it:
// a recorded whiteout is a local deletion, and the peers removing the file
// it hid afterwards leaves it hiding nothing (the Real keeps it so, see
// real.RemoteChanged), which is a healthy state.
func whiteoutOver(ctx context.Context, lo *lower, ix *index.Index, arena string, arenas []string, root, natural, p string,
	add func(code, path, detail string)) error {
	if natural == "" {
		add(CodeWhiteoutOrphan, p, "whiteout in a directory that merges no lower directory")
		return nil
	}
	ok, err := lo.exists(ctx, arenas, natural)
	if err != nil || ok {
		return err
	}
	rel, _ := filepath.Rel(root, p)
	row, found, err := ix.Get(ctx, arena, filepath.ToSlash(rel))
	if err != nil {
		return err
	}
	if !found || row.Kind != index.Whiteout {
		add(CodeWhiteoutOrphan, p, fmt.Sprintf("whiteout over %q, which the lower does not have", natural))
	}
	return nil
}

func checkMetacopy(ctx context.Context, lo *lower, ix *index.Index, arena string, arenas []string, p, root, origin string,
	size int64, add func(code, path, detail string)) error {
	if origin == "" {
		add(CodeMetacopyMissing, p, "metacopy file in a directory that merges no lower directory")
		return nil
	}
	var la, lp string
	for _, a := range arenas {
		if strings.HasPrefix(origin, a+"/") {
			la, lp = a, origin[len(a)+1:]
		}
	}
	if la == "" {
		add(CodeMetacopyMissing, p, fmt.Sprintf("metacopy of %q, outside every arena", origin))
		return nil
	}
	lsize, lb, ok, err := lo.file(ctx, la, lp)
	if err != nil {
		return err
	}
	if !ok {
		add(CodeMetacopyMissing, p, fmt.Sprintf("metacopy of %q: the lower has no such file (its data is gone)", origin))
		return nil
	}
	if lsize != size {
		add(CodeMetacopyChanged, p, fmt.Sprintf("metacopy of %q says %d bytes, the lower file has %d: the merged view mixes two versions", origin, size, lsize))
	}
	rel, _ := filepath.Rel(root, p)
	row, found, err := ix.Get(ctx, arena, filepath.ToSlash(rel))
	if err != nil {
		return err
	}
	if found && row.Kind == index.Meta && row.Blob != lb {
		add(CodeMetacopyChanged, p, fmt.Sprintf("index says the lower data of %q is %s, the lower has %s", origin, row.Blob, lb))
	}
	return nil
}
