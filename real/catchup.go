package real

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// CatchUp compares the upper with the index and records exactly what
// changed, with its history; only changed files are hashed. It refuses
// (ErrUpperMissing, nothing recorded) when the upper is missing, lost its
// marker while the index has rows, or an arena dir with rows is gone; the
// first CatchUp of a Real (the one after a start) also refuses an arena
// dir that is empty while the index has rows in it (a disk not mounted
// there, a directory emptied by hand): what changed while nobody watched
// must not be everything. Later passes (rescans while the watcher runs)
// take an empty arena dir for what it is: every local file of the arena
// deleted through the mount leaves it empty.
func (r *Real) CatchUp(ctx context.Context) error {
	scopes := make([]scope, 0, len(r.l.Arenas))
	for _, a := range r.l.Arenas {
		scopes = append(scopes, scope{arena: a})
	}
	// Check every arena before recording anything for any of them.
	r.syncMu.Lock()
	if err := r.checkUpper(ctx); err != nil {
		r.syncMu.Unlock()
		return err
	}
	for _, a := range r.l.Arenas {
		if err := r.checkArena(ctx, a); err != nil {
			r.syncMu.Unlock()
			return err
		}
		if !r.caughtUp {
			if err := r.checkArenaEmpty(ctx, a); err != nil {
				r.syncMu.Unlock()
				return err
			}
		}
	}
	r.syncMu.Unlock()
	if err := r.sync(ctx, scopes); err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	r.syncMu.Lock()
	r.caughtUp = true
	r.syncMu.Unlock()
	return nil
}

// checkArenaEmpty refuses an arena dir without a single entry while the
// index has rows for it (see CatchUp).
func (r *Real) checkArenaEmpty(ctx context.Context, arena string) error {
	dir := r.upperPath(arena, "")
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil // missing (checkArena judged it), or a whiteout: the arena deleted through the mount
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("arena %s: %w", arena, err)
	}
	names, err := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return nil // not empty (an unreadable dir is the walk's to report)
	}
	has, err := r.ix.HasRows(ctx, arena)
	if err != nil || !has {
		return err
	}
	return fmt.Errorf("%w: arena directory %s is empty but the index has entries in it: is a disk missing there? "+
		"Nothing was recorded. If its files were removed on purpose while real was stopped, put any file there "+
		"and start again: the others are then recorded as deleted", ErrUpperMissing, dir)
}

// checkUpper verifies the upper root and its marker, setting the marker
// the first time (when the index is still empty).
func (r *Real) checkUpper(ctx context.Context) error {
	fi, err := os.Stat(r.l.Upper)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", ErrUpperMissing, r.l.Upper)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUpperMissing, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUpperMissing, r.l.Upper)
	}
	for _, name := range []string{MarkerXattr, UserMarkerXattr} {
		if _, err := getXattr(r.l.Upper, name); err == nil {
			return nil
		} else if !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("%w: marker of %s: %w", ErrUpperMissing, r.l.Upper, err)
		}
	}
	empty, err := r.ix.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: %s has no %s marker but the index has files: is it the right directory, mounted?",
			ErrUpperMissing, r.l.Upper, MarkerXattr)
	}
	return markUpper(r.l.Upper)
}

// markUpper sets the marker: trusted.real.upper, and user.real.upper too
// where user xattrs are allowed, so that an unprivileged reader (a user
// namespace, a userxattr overlay) sees it. Either is enough.
func markUpper(upper string) error {
	terr := unix.Lsetxattr(upper, MarkerXattr, []byte("1"), 0)
	uerr := unix.Lsetxattr(upper, UserMarkerXattr, []byte("1"), 0)
	if terr != nil && uerr != nil {
		return fmt.Errorf("mark upper %s: %w", upper, errors.Join(terr, uerr))
	}
	return nil
}

// checkArena refuses an arena whose upper dir is gone while the index has rows for it.
func (r *Real) checkArena(ctx context.Context, arena string) error {
	dir := r.upperPath(arena, "")
	_, err := os.Lstat(dir)
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("arena %s: %w", arena, err)
	}
	has, err := r.ix.HasRows(ctx, arena)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("%w: arena directory %s is gone but the index has files in it", ErrUpperMissing, dir)
	}
	return nil
}
