package real

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/tree"
)

// RemoteChanged tells the Real that a peer's notification e was applied to
// the lower layer (the Unreal cache), so that local entries over that path
// stay consistent. The daemon calls it after applying a batch, once per
// Link/Unlink entry. It records no history of its own (except where a
// locally renamed metacopy follows it, see followRenamed):
//   - a local metacopy (metadata-only change, say a chmod) over a file that
//     a remote Link changed: the upper file gets the new size and mtime,
//     keeping its local metadata, so the merged view never shows one
//     version's size with another's bytes;
//   - a metacopy over a file a remote Unlink deleted: the metacopy is
//     removed (its data is gone) and a metadata-lost conflict recorded;
//   - a locally modified file (plain upper file): kept, shown, and a
//     remote-deleted or remote-changed conflict is recorded, unless the
//     remote change is the local version itself;
//   - a whiteout (deleted here) met by a remote Link: a local-deleted conflict.
//
// What a metacopy or a whiteout follows is what the lower shows at the path
// after e (the newest version across the peers, see shownAfter), which need
// not be e: a Link older than another peer's version changes nothing shown,
// and an Unlink from one peer leaves the file of another.
func (r *Real) RemoteChanged(ctx context.Context, e history.Entry) error {
	if e.Kind != history.Link && e.Kind != history.Unlink {
		return nil // Available/Drop: the content did not change
	}
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	// Asked only where a local entry depends on it: most changed paths
	// have none, and a receiver calls this for every entry it applies.
	var shownE history.Entry
	var shownErr error
	asked := false
	shown := func() (history.Entry, error) {
		if !asked {
			asked = true
			shownE, shownErr = r.shownAfter(ctx, e)
		}
		return shownE, shownErr
	}
	if err := r.settleWritten(ctx, e); err != nil {
		return err
	}
	cs, err := r.remoteChangedAt(ctx, e, shown)
	if err != nil {
		return err
	}
	if err := r.followRenamed(ctx, e, shown, &cs); err != nil {
		return err
	}
	if !cs.Empty() {
		if _, err := r.ix.Commit(ctx, cs); err != nil {
			return fmt.Errorf("remote change %s/%s: %w", e.Arena, e.Path, err)
		}
	}
	moved, err := r.followRedirectedDirs(ctx, e)
	if err != nil || moved || e.Kind != history.Link {
		return err
	}
	return r.remoteUnderDeleted(ctx, e, shown)
}

// remoteUnderDeleted records a remote Link of a path below a dir deleted
// here (a whiteout, an opaque dir, a non-dir over it: the merged view does
// not show it) as a local-deleted conflict, as for a deleted file: the
// Hidden row takes the blob it hides now, so that no later pass Unlinks
// it (a peer's new file in a dir deleted here was removed from every other
// peer by the next pass, without anybody here deleting it). Not for a
// path a dir renamed here shows elsewhere (followRedirectedDirs).
func (r *Real) remoteUnderDeleted(ctx context.Context, e history.Entry, shown func() (history.Entry, error)) error {
	row, ok, err := r.ix.Get(ctx, e.Arena, e.Path)
	if err != nil {
		return err
	}
	if ok && row.Kind != index.Hidden {
		return nil // handled at its path (remoteChangedAt)
	}
	if !ok {
		hidden, err := r.hiddenByUpper(e.Arena, e.Path)
		if err != nil || !hidden {
			return err
		}
		row = index.Row{Arena: e.Arena, Path: e.Path, Kind: index.Hidden}
	}
	sh, err := shown()
	if err != nil {
		return err
	}
	if sh.Kind != history.Link || (ok && row.Blob == sh.Blob) {
		return nil // nothing shown, or already hidden with this version (a pass met it first)
	}
	row.Size, row.Mtime, row.Blob = sh.Size, sh.Mtime, sh.Blob
	r.log.Warn("conflict: a remote change under a directory deleted here; it stays deleted here", "arena", e.Arena, "path", e.Path)
	cs := index.ChangeSet{Put: []index.Row{row}, Conflicts: []index.Conflict{{Arena: e.Arena, Path: e.Path,
		Kind: index.ConflictLocalDeleted, RemoteBlob: e.Blob, RemotePrev: e.PrevBlob, Time: time.Now()}}}
	if _, err := r.ix.Commit(ctx, cs); err != nil {
		return fmt.Errorf("remote change %s/%s: %w", e.Arena, e.Path, err)
	}
	return nil
}

// hiddenByUpper reports whether an upper entry above arena/p hides the
// lower at p: a non-directory, an opaque dir or a dir redirected from
// elsewhere, at the arena root or a dir on the way.
func (r *Real) hiddenByUpper(arena, p string) (bool, error) {
	dir, lower := "", arena
	elems := strings.Split(p, "/")
	for i := 0; i < len(elems); i++ {
		full := r.upperPath(arena, dir)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); vanished(err) {
			return false, nil // the lower shows through from here down
		} else if err != nil {
			return false, fmt.Errorf("stat %s: %w", full, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return true, nil
		}
		f, err := readFacts(full, overlayPrefix(r.l.UserXattr))
		if err != nil && !vanished(err) {
			return false, err
		}
		if f.opaque {
			return true, nil
		}
		if f.hasRedir && dir != "" {
			if l, err := parseRedirect(f.redirect, parentPath(lower)); err != nil || l != lower {
				return true, nil
			}
		}
		dir = pjoin(dir, elems[i])
		lower = tree.Join(lower, elems[i])
	}
	return false, nil
}

// showsLowerAt reports whether the merged view shows the lower file
// lowerFile ("arena/path") at merged path p of arena, as the upper is now:
// redirects followed, no non-directory on the way, no opaque dir below the
// last redirect, and no upper entry at p itself (a metacopy there was made
// from another file).
func (r *Real) showsLowerAt(arena, p, lowerFile string) (bool, error) {
	dir, lower := "", arena // merged dir and the lower dir it shows ("" = none)
	elems := strings.Split(p, "/")
	for i, el := range elems {
		child := pjoin(dir, el)
		childLower := ""
		if lower != "" {
			childLower = lower + "/" + el
		}
		full := r.upperPath(arena, child)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); vanished(err) {
			// The lower shows through from here down.
			rest := strings.Join(elems[i+1:], "/")
			return childLower != "" && pjoin(childLower, rest) == lowerFile, nil
		} else if err != nil {
			return false, fmt.Errorf("stat %s: %w", full, err)
		}
		if i == len(elems)-1 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return false, nil
		}
		f, err := readFacts(full, overlayPrefix(r.l.UserXattr))
		if vanished(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if f.opaque {
			childLower = "" // hides the natural lower; a redirect below still shows its own
		}
		if f.hasRedir {
			if childLower, err = parseRedirect(f.redirect, lower); err != nil {
				return false, nil
			}
		}
		dir, lower = child, childLower
	}
	return false, nil
}

// settleWritten re-decodes the local metacopies that e would act on (at
// e's path, or renamed from it) whose upper file is no longer a metacopy:
// written to since the last pass (overlay copied the data up, in place),
// removed or replaced. Resized or removed as metacopies, their local bytes
// would be lost; decoded first, they are what they now are (a local file:
// its Link, and a conflict with e).
func (r *Real) settleWritten(ctx context.Context, e history.Entry) error {
	rows, err := r.ix.ByOrigin(ctx, tree.Join(e.Arena, e.Path))
	if err != nil {
		return err
	}
	at, ok, err := r.ix.Get(ctx, e.Arena, e.Path)
	if err != nil {
		return err
	}
	if ok {
		rows = append(rows, at)
	}
	var scopes []scope
	for _, row := range rows {
		if row.Kind != index.Meta {
			continue
		}
		meta, err := r.isMetacopy(r.upperPath(row.Arena, row.Path))
		if err != nil {
			return fmt.Errorf("remote change %s/%s: %w", e.Arena, e.Path, err)
		}
		if !meta {
			scopes = append(scopes, scope{arena: row.Arena, dir: row.Path})
		}
	}
	if len(scopes) == 0 {
		return nil
	}
	if err := r.syncLocked(ctx, outermost(scopes)); err != nil {
		return fmt.Errorf("remote change %s/%s: local changes under it: %w", e.Arena, e.Path, err)
	}
	return nil
}

// isMetacopy reports whether the upper entry at full is a metacopy file
// (false when it is gone or anything else).
func (r *Real) isMetacopy(full string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); vanished(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("stat %s: %w", full, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, nil
	}
	f, err := readFacts(full, overlayPrefix(r.l.UserXattr))
	if vanished(err) {
		return false, nil
	}
	return f.metacopy, err
}

// followRedirectedDirs re-decodes the local dirs renamed from a lower dir
// that holds e's path (an overlay redirect names it): the merged view shows
// the change at their paths at once, so what those paths show changed and
// is recorded (Link of the new blob, Unlink, Link of a new file), as a pass
// over them would at the next start. Without it a peer's edit of a file in
// a dir renamed here was shown at the new path with no Link there, and the
// peers were told (and asked to fetch) the old blob.
func (r *Real) followRedirectedDirs(ctx context.Context, e history.Entry) (moved bool, err error) {
	dirs, err := r.redirectLowers(ctx)
	if err != nil || len(dirs) == 0 {
		return false, err
	}
	changed := tree.Join(e.Arena, e.Path)
	var scopes []scope
	for _, d := range dirs {
		if lower := d.lower; index.Within(changed, lower) && changed != lower {
			// Only the path the change shows at: the decoder resolves the
			// redirects above it (a scope may start deep in a renamed dir,
			// as the watcher's do). Re-decoding the whole dir made each
			// remote change cost as much as the dir is large
			// (BenchmarkRemoteChangeUnderRenamedDir). Where an entry of
			// the dir hides that path (a dir in it renamed again, a
			// whiteout), the decoder finds nothing changed there.
			scopes = append(scopes, scope{arena: d.Arena, dir: pjoin(d.Path, strings.TrimPrefix(changed, lower+"/"))})
		}
	}
	if len(scopes) == 0 {
		return false, nil
	}
	shownAt := slices.Clone(scopes)
	if err := r.syncLocked(ctx, outermost(scopes)); err != nil {
		return true, fmt.Errorf("remote change %s/%s: renamed dirs showing it: %w", e.Arena, e.Path, err)
	}
	if e.Kind == history.Link {
		// Hidden at every new path too (a dir inside the renamed one
		// deleted, made again or renamed away here): nobody here sees
		// the peer's file, so it is not Unlinked at the old path either,
		// but kept hidden as under any dir deleted here
		// (remoteUnderDeleted). Before, the peer's new file was removed
		// from every peer though it never showed here.
		shows, err := r.showsAny(ctx, shownAt, changed)
		if err != nil || !shows {
			return false, err
		}
	}
	// And the changed path itself, which the rename hides at the old
	// place (a new file there is Unlinked at the old path, as the rename
	// of the dir was: it shows at the new one).
	if err := r.syncLocked(ctx, []scope{{arena: e.Arena, dir: e.Path}}); err != nil {
		return true, fmt.Errorf("remote change %s/%s: its old path: %w", e.Arena, e.Path, err)
	}
	return true, nil
}

// redirected is a dir renamed here and the lower dir it shows.
type redirected struct {
	index.Row
	lower string // "arena/path"
}

// redirectLowers returns the dirs renamed here (Dir rows with a redirect)
// with the lower dir each shows: its redirect resolved against its
// parent's lower dir (natural, or an enclosing redirected dir's, in tree
// order before it). A redirect that does not parse is left out (the
// decoder ignores it too, and warns).
func (r *Real) redirectLowers(ctx context.Context) ([]redirected, error) {
	dirs, err := r.ix.Redirected(ctx)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	lowerOf := map[string]string{} // "arena/path" of a redirected dir -> its lower dir
	parentLower := func(arena, p string) string {
		for dir := parentPath(p); ; dir = parentPath(dir) {
			if dir == "" {
				return tree.Join(arena, parentRest(p, ""))
			}
			if l, ok := lowerOf[tree.Join(arena, dir)]; ok {
				return tree.Join(l, parentRest(p, dir))
			}
		}
	}
	out := make([]redirected, 0, len(dirs))
	for _, d := range dirs {
		lower, err := parseRedirect(d.Origin, parentLower(d.Arena, d.Path))
		if err != nil {
			continue
		}
		lowerOf[tree.Join(d.Arena, d.Path)] = lower
		out = append(out, redirected{Row: d, lower: lower})
	}
	return out, nil
}

// showsAny reports whether the merged view shows the lower file changed
// ("arena/path") at one of the paths ats, as decoded: a row there whose
// data is that lower file.
func (r *Real) showsAny(ctx context.Context, ats []scope, changed string) (bool, error) {
	for _, at := range ats {
		row, ok, err := r.ix.Get(ctx, at.arena, at.dir)
		if err != nil {
			return false, err
		}
		if ok && (row.Kind == index.Moved || row.Kind == index.Meta) && row.Origin == changed {
			return true, nil
		}
	}
	return false, nil
}

// parentPath is the parent of p inside an arena ("" for a top-level name).
func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// parentRest is the path of p's parent relative to dir (an ancestor of p,
// "" = the arena root).
func parentRest(p, dir string) string {
	par := parentPath(p)
	if dir == "" {
		return par
	}
	return strings.TrimPrefix(strings.TrimPrefix(par, dir), "/")
}

// shownAfter is what the lower shows at e's path now that e is applied,
// as a notification: a Link of the version served there, or an Unlink when
// no peer has the path any more.
func (r *Real) shownAfter(ctx context.Context, e history.Entry) (history.Entry, error) {
	f, ok, err := r.remote.Lookup(ctx, e.Arena, e.Path)
	if err != nil {
		return history.Entry{}, fmt.Errorf("remote change %s/%s: what the lower shows: %w", e.Arena, e.Path, err)
	}
	shown := history.Entry{Kind: history.Unlink, Arena: e.Arena, Path: e.Path, Mtime: e.Mtime, PrevBlob: e.PrevBlob}
	if ok && !f.Blob.IsZero() {
		shown = history.Entry{Kind: history.Link, Arena: e.Arena, Path: e.Path, Mtime: f.Mtime, Size: f.Size, Blob: f.Blob, PrevBlob: e.PrevBlob}
	}
	return shown, nil
}

// remoteChangedAt is what remote change e, after which the lower shows
// shown(), means for the local entry at its path.
func (r *Real) remoteChangedAt(ctx context.Context, e history.Entry, shown func() (history.Entry, error)) (index.ChangeSet, error) {
	row, ok, err := r.ix.Get(ctx, e.Arena, e.Path)
	if err != nil || !ok {
		return index.ChangeSet{}, err
	}
	conflict := func(kind string, local bool) index.ChangeSet {
		c := index.Conflict{Arena: e.Arena, Path: e.Path, Kind: kind, RemoteBlob: e.Blob, RemotePrev: e.PrevBlob, Time: time.Now()}
		if local {
			c.LocalBlob = row.Blob
		}
		r.log.Warn("conflict: a remote change met a local one; the local side is kept", "arena", e.Arena, "path", e.Path,
			"kind", kind, "remote", e.Kind)
		return index.ChangeSet{Conflicts: []index.Conflict{c}}
	}
	var cs index.ChangeSet
	full := r.upperPath(e.Arena, e.Path)
	switch row.Kind {
	case index.File, index.Moved:
		// Moved: a file of a dir renamed here, shown from the lower dir
		// the redirect names, not from this path: a peer's version at
		// this path is not shown either (the local rename wins).
		if e.Blob == row.Blob && e.Kind == history.Link {
			return cs, nil // the peer took our version
		}
		if e.Kind == history.Unlink {
			cs = conflict(index.ConflictRemoteDeleted, true)
		} else {
			cs = conflict(index.ConflictRemoteChanged, true)
		}
	case index.Whiteout:
		shown, err := shown()
		if err != nil {
			return cs, err
		}
		if e.Kind == history.Link {
			cs = conflict(index.ConflictLocalDeleted, false)
		}
		row.Blob = shown.Blob // what it hides now (zero: nothing left to hide)
		cs.Put = []index.Row{row}
	case index.Dir:
		// A local dir where a peer has a file: the dir is shown, the
		// file is not (overlay hides a lower non-dir under an upper dir).
		if e.Kind == history.Link {
			if row.Blob.IsZero() {
				cs = conflict(index.ConflictRemoteChanged, false)
			} else {
				cs = conflict(index.ConflictLocalDeleted, false) // the dir replaced the file here
			}
		}
	case index.Meta:
		if row.Origin != "" && row.Origin != e.Arena+"/"+e.Path {
			return cs, nil // a renamed metacopy: its content is elsewhere
		}
		shown, err := shown()
		if err != nil {
			return cs, err
		}
		if shown.Kind == history.Link && shown.Blob == row.Blob && shown.Size == row.Size && shown.Mtime.Equal(row.Mtime) {
			return cs, nil // what it shows did not change (an older Link, or one of several holders went)
		}
		e := shown
		if e.Kind == history.Unlink {
			cs = conflict(index.ConflictMetadataLost, false)
			if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
				return cs, fmt.Errorf("remove stale metacopy %s: %w", full, err)
			}
			cs.Delete = []index.Row{row}
			break
		}
		if err := r.resizeMeta(&row, e); err != nil {
			return cs, err
		}
		cs.Put = []index.Row{row}
	}
	return cs, nil
}

// resizeMeta gives the metacopy file of row the size and mtime of the
// remote version e of its data, and row its new stat and blob. Same inode,
// new size: the data stays in the lower (the metacopy xattr is kept).
func (r *Real) resizeMeta(row *index.Row, e history.Entry) error {
	full := r.upperPath(row.Arena, row.Path)
	if err := os.Truncate(full, e.Size); err != nil {
		return fmt.Errorf("resize metacopy %s to the remote size: %w", full, err)
	}
	if err := os.Chtimes(full, time.Time{}, e.Mtime); err != nil {
		return fmt.Errorf("set mtime of metacopy %s: %w", full, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fmt.Errorf("stat %s: %w", full, err)
	}
	row.Size, row.Mtime, row.Ctime, row.Inode, row.Blob = st.Size, timespec(st.Mtim), timespec(st.Ctim), st.Ino, e.Blob
	return nil
}

// followRenamed applies what the lower shows after the remote change
// (shown) to the local metacopies renamed from the changed path
// (metadata-only upper files whose redirect names it): their data is the
// remote file, so a Link gives them its size (without it the merged view
// showed the old size with the new bytes) and an Unlink takes their data
// away (the metacopy is removed, conflict metadata-lost). What such a path
// shows changes with it, so this is recorded in the history (Link with the
// new blob, or Unlink), unlike the change at the changed path itself,
// which the peers made.
func (r *Real) followRenamed(ctx context.Context, changed history.Entry, shown func() (history.Entry, error), cs *index.ChangeSet) error {
	origin := changed.Arena + "/" + changed.Path
	rows, err := r.ix.ByOrigin(ctx, origin)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, row := range rows {
		if row.Arena == changed.Arena && row.Path == changed.Path {
			continue // handled at its path
		}
		e, err := shown()
		if err != nil {
			return err
		}
		prev := row.Blob
		if e.Kind == history.Unlink {
			full := r.upperPath(row.Arena, row.Path)
			if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove metacopy %s, whose remote data was deleted: %w", full, err)
			}
			r.log.Warn("conflict: a remote deletion took the data of a locally renamed file", "arena", row.Arena,
				"path", row.Path, "origin", origin)
			cs.Delete = append(cs.Delete, row)
			cs.Conflicts = append(cs.Conflicts, index.Conflict{Arena: row.Arena, Path: row.Path, Kind: index.ConflictMetadataLost,
				RemoteBlob: e.Blob, RemotePrev: e.PrevBlob, Time: now})
			if !prev.IsZero() {
				cs.Entries = append(cs.Entries, history.Entry{Kind: history.Unlink, Arena: row.Arena, Path: row.Path,
					Mtime: now, PrevBlob: prev})
			}
			continue
		}
		if err := r.resizeMeta(&row, e); err != nil {
			return err
		}
		cs.Put = append(cs.Put, row)
		if row.Blob != prev {
			cs.Entries = append(cs.Entries, history.Entry{Kind: history.Link, Arena: row.Arena, Path: row.Path,
				Mtime: history.Announced(row.Mtime, now), Size: row.Size, Blob: row.Blob, PrevBlob: prev})
		}
	}
	return nil
}

// outermost sorts scopes in tree order and drops those inside another.
func outermost(scopes []scope) []scope {
	slices.SortFunc(scopes, func(a, b scope) int {
		if c := strings.Compare(a.arena, b.arena); c != 0 {
			return c
		}
		return index.Compare(a.dir, b.dir)
	})
	out := scopes[:0]
	for _, sc := range scopes {
		if n := len(out); n > 0 && out[n-1].arena == sc.arena && index.Within(sc.dir, out[n-1].dir) {
			continue
		}
		out = append(out, sc)
	}
	return out
}
