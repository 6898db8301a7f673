package real

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/tree"
)

// scope is a subtree of an arena to re-decode: dir "" is the whole arena.
type scope struct{ arena, dir string }

// flushAt is how many changed rows one transaction holds at most.
const flushAt = 4000

// dirState is what a merged directory shows from the lower layer.
type dirState struct {
	lower   string // lower tree path ("arena/dir") it merges; "" = none
	hiding  bool   // remote files at the natural paths below are not shown
	covered bool   // a hidden-row walk of this pass already covers it
	// settled: what hides here was indexed so before this pass (an
	// unchanged whiteout, an opaque or redirected dir with its row), so a
	// remote file newly hidden below arrived from a peer, not deleted here.
	settled bool
}

// syncer is one decoding pass: it walks scopes of the upper and the index
// rows of those scopes in tree order, merges them, and collects changes.
type syncer struct {
	r      *Real
	ctx    context.Context
	arena  string
	cs     index.ChangeSet
	n      int      // changed rows in cs
	links  []uint64 // inodes with other names (hard links) whose content changed
	dirent []byte   // getdents buffer

	// per scope
	next    func() (*index.Row, error, bool)
	stop    func()
	old     *index.Row // lookahead of the old rows
	oldDone bool
	pending pendingHeap
	facts   map[string]*facts // upper dir facts by merged path (shadow checks)

	redirs      []redirected // dirs renamed here, read once a pass needs them (renamedAway)
	redirLoaded bool
}

// sync re-decodes scopes (one code path for CatchUp and the watcher) and
// commits what changed, with its history.
func (r *Real) sync(ctx context.Context, scopes []scope) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.syncLocked(ctx, scopes)
}

// syncLocked is sync for a caller holding syncMu.
func (r *Real) syncLocked(ctx context.Context, scopes []scope) error {
	if err := r.checkUpper(ctx); err != nil {
		return err
	}
	s := &syncer{r: r, ctx: ctx}
	for _, sc := range scopes {
		if err := s.scope(sc); err != nil {
			return err
		}
	}
	if err := s.flush(); err != nil {
		return err
	}
	if len(s.links) == 0 {
		return nil
	}
	// The other names of hard-linked files that changed: one more round
	// (their own changes need no further one: the inode is the same).
	rows, err := r.ix.ByInode(ctx, s.links)
	if err != nil {
		return err
	}
	s.links = nil
	for _, row := range rows {
		if err := s.scope(scope{arena: row.Arena, dir: row.Path}); err != nil {
			return err
		}
	}
	return s.flush()
}

func (s *syncer) flush() error {
	if s.cs.Empty() {
		return nil
	}
	if _, err := s.r.ix.Commit(s.ctx, s.cs); err != nil {
		return err
	}
	s.cs, s.n = index.ChangeSet{}, 0
	return nil
}

func (r *Real) upperPath(arena, p string) string {
	return filepath.Join(r.l.Upper, filepath.FromSlash(tree.Join(arena, p)))
}

func (s *syncer) scope(sc scope) error {
	s.arena = sc.arena
	s.pending = nil
	s.facts = map[string]*facts{}
	s.old, s.oldDone = nil, false
	next, stop := s.prefetch(sc)
	s.next, s.stop = next, stop
	defer stop()

	if err := s.r.checkArena(s.ctx, sc.arena); err != nil {
		return err
	}
	if _, err := os.Lstat(s.r.upperPath(sc.arena, "")); errors.Is(err, os.ErrNotExist) {
		return nil // no upper dir yet, and the index has nothing in it
	}

	if err := s.walkScope(sc.dir); err != nil {
		return err
	}
	// Whatever is left pending or old is beyond the last upper entry.
	for s.pending.Len() > 0 {
		it := heap.Pop(&s.pending).(pendingRow)
		if err := s.virtual(it); err != nil {
			return err
		}
	}
	for {
		o, err := s.peekOld()
		if err != nil {
			return err
		}
		if o == nil {
			return nil
		}
		s.old = nil
		if err := s.change(o, nil); err != nil {
			return err
		}
	}
}

// prefetchBatch is how many old rows go to the walk at once; prefetchAhead
// how many batches the reader may be ahead.
const (
	prefetchBatch = 1024
	prefetchAhead = 8
)

// prefetch reads the old rows of sc in another goroutine, ahead of the
// walk, so that SQLite and the file system are read at the same time (on
// another core). This is safe while the walk commits: it only changes rows
// at or before its position, and the reader is past them.
func (s *syncer) prefetch(sc scope) (next func() (*index.Row, error, bool), stop func()) {
	ctx, cancel := context.WithCancel(s.ctx)
	type batch struct {
		rows []index.Row
		err  error
	}
	ch := make(chan batch, prefetchAhead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		var b []index.Row
		err := s.r.ix.Scan(ctx, sc.arena, sc.dir, func(r index.Row) error {
			b = append(b, r)
			if len(b) < prefetchBatch {
				return nil
			}
			select {
			case ch <- batch{rows: b}:
				b = make([]index.Row, 0, prefetchBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if ctx.Err() != nil {
			return // stopped: nobody reads any more
		}
		for _, last := range []batch{{rows: b}, {err: err}} {
			if len(last.rows) == 0 && last.err == nil {
				continue
			}
			select {
			case ch <- last:
			case <-ctx.Done():
				return
			}
		}
	}()
	var cur []index.Row
	// next hands out pointers into the batches: each batch is a new
	// slice, never written again, so a row stays valid for its holder.
	next = func() (*index.Row, error, bool) {
		for len(cur) == 0 {
			b, ok := <-ch
			if !ok {
				return nil, nil, false
			}
			if b.err != nil {
				return nil, b.err, true
			}
			cur = b.rows
		}
		r := &cur[0]
		cur = cur[1:]
		return r, nil, true
	}
	stop = func() {
		cancel()
		<-done
	}
	return next, stop
}

// walkScope decodes the scope root dir (with the state its ancestors give
// it) and everything under it.
func (s *syncer) walkScope(dir string) error {
	st, err := s.rootState()
	if err != nil {
		return err
	}
	if dir == "" {
		if st.hiding {
			if err := s.expandHidden("", false, false); err != nil {
				return err
			}
			st.covered = true
		}
		return s.walkDir("", st, s.r.upperPath(s.arena, ""))
	}
	elems := strings.Split(dir, "/")
	p := ""
	for _, e := range elems[:len(elems)-1] {
		p = pjoin(p, e)
		f, isDir, exists, err := s.dirFacts(p)
		if err != nil {
			return err
		}
		if exists && !isDir {
			// Under a whiteout or a file: nothing of the scope is in the
			// upper; a whiteout hides what the lower had there.
			settled := st.hiding && st.settled
			if !settled {
				if settled, err = s.indexedHiding(p, nil); err != nil {
					return err
				}
			}
			st = dirState{hiding: true, settled: settled}
			continue
		}
		st = s.childState(st, p, f)
		if st.hiding && !st.settled && exists && (f.opaque || f.hasRedir) {
			if st.settled, err = s.indexedHiding(p, f); err != nil {
				return err
			}
		}
	}
	return s.walkEntry(dir, st, true)
}

func (s *syncer) rootState() (dirState, error) {
	st := dirState{lower: s.arena}
	f, isDir, exists, err := s.dirFacts("")
	if err != nil {
		return st, err
	}
	// An opaque arena dir hides the lower arena; so does a non-directory
	// at the arena root: the whiteout overlay leaves when the whole arena
	// is deleted through the mount (rm -rf MOUNT/arena). Every remote file
	// of the arena is then deleted here, not shown again.
	if exists && (!isDir || f.opaque) {
		st = dirState{hiding: true}
	}
	return st, nil
}

// childState is the state of merged dir p (child of a dir in state ps),
// given its upper facts (nil: not an upper dir).
func (s *syncer) childState(ps dirState, p string, f *facts) dirState {
	natural := ""
	if ps.lower != "" {
		natural = ps.lower + "/" + pathBase(p)
	}
	st := dirState{lower: natural, hiding: ps.hiding, covered: ps.covered, settled: ps.hiding && ps.settled}
	if f == nil {
		return st
	}
	switch {
	case f.hasRedir:
		lower, err := parseRedirect(f.redirect, ps.lower)
		if err != nil {
			s.r.log.Warn("ignoring overlay redirect", "path", tree.Join(s.arena, p), "err", err)
			lower = ""
		}
		// Content from elsewhere hides the natural lower (not when the
		// redirect names the natural path: a dir renamed back).
		st.lower = lower
		st.hiding = st.hiding || lower != tree.Join(s.arena, p)
	case f.opaque:
		st.lower, st.hiding = "", true
	}
	return st
}

func pathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// moved reports whether a dir in state st shows lower content from
// elsewhere than its own path p.
func (s *syncer) moved(st dirState, p string) bool {
	return st.lower != "" && st.lower != tree.Join(s.arena, p)
}

// dirFacts returns the overlay facts of the upper entry at merged path p
// (cached per scope), whether it is a directory and whether it exists.
func (s *syncer) dirFacts(p string) (*facts, bool, bool, error) {
	if f, ok := s.facts[p]; ok {
		return f, f != nil, true, nil
	}
	full := s.r.upperPath(s.arena, p)
	fi, err := os.Lstat(full)
	if vanished(err) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("stat %s: %w", full, err)
	}
	if !fi.IsDir() {
		s.facts[p] = nil
		return nil, false, true, nil
	}
	f, err := readFacts(full, overlayPrefix(s.r.l.UserXattr))
	if vanished(err) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	s.facts[p] = &f
	return &f, true, true, nil
}

// walkEntry decodes the upper entry at merged path p (in a dir of state
// ps). root marks the scope root, which inherits what its ancestors move
// or hide into it.
func (s *syncer) walkEntry(p string, ps dirState, root bool) error {
	full := s.r.upperPath(s.arena, p)
	var st unix.Stat_t
	return s.walkStat(p, filepath.Dir(full), filepath.Base(full), &st, unix.Lstat(full, &st), ps, root)
}

// walkStat is walkEntry for an entry already stat'ed (lstat error err),
// named in the upper dir dirFull (its full path is only built when it is
// needed: an unchanged file does without).
func (s *syncer) walkStat(p, dirFull, name string, st *unix.Stat_t, err error, ps dirState, root bool) error {
	full := func() string { return dirFull + "/" + name }
	if err != nil {
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			return s.unreadable(p, full(), err, true)
		}
		if root {
			// Gone: what the ancestors move or hide here shows again.
			cs := s.childState(ps, p, nil)
			if s.moved(cs, p) {
				if err := s.expandMoved(p, cs.lower, true); err != nil {
					return err
				}
			}
			if cs.hiding && !cs.covered {
				return s.expandHidden(p, true, cs.settled)
			}
		}
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return s.walkDirIn(p, ps, full(), root)
	}
	// emitUpper without its closure (this is the per-file path).
	if err := s.emitPendingBefore(p); err != nil {
		return err
	}
	old, err := s.oldAt(p)
	if err != nil {
		return err
	}
	row := old // unchanged: the row stays as it is
	if !statUnchanged(old, st) {
		if row, err = s.decodeFile(p, full(), st, ps, old); err != nil {
			return err
		}
	} else if old.Kind == index.Meta {
		if old, row, err = s.staleMeta(p, full(), old); err != nil {
			return err
		}
	}
	if err := s.change(old, row); err != nil || row == nil || ps.covered {
		return err
	}
	switch {
	case row.Kind == index.Whiteout && row.Blob.IsZero(), row.Kind == index.File && !sameRow(old, row):
		// The lower entry it hides or replaces may be a directory: its
		// files are gone too (hidden rows below p).
		// A whiteout indexed before hid them before this pass: a new one
		// below is a peer's, not deleted here (settled). Not its stat:
		// overlay shares whiteout inodes, whose ctime changes with every
		// new whiteout.
		return s.expandHidden(p, false, old != nil && old.Kind == index.Whiteout)
	case row.Kind == index.File:
		// Unchanged: what it hid is still hidden (no remote walk per file).
		return s.keepBelow(p)
	}
	return nil
}

// walkDirIn records the upper dir at p (parent state ps), expands what it
// moves or hides, and walks its entries.
func (s *syncer) walkDirIn(p string, ps dirState, full string, root bool) error {
	var f facts
	gone, indexed := false, false
	_, err := s.emitUpper(p, func(old *index.Row) (*index.Row, error) {
		var fi unix.Stat_t
		if err := unix.Lstat(full, &fi); vanished(err) || (err == nil && fi.Mode&unix.S_IFMT != unix.S_IFDIR) {
			gone = true
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("stat %s: %w", full, err)
		}
		ff, err := readFacts(full, overlayPrefix(s.r.l.UserXattr))
		if vanished(err) {
			gone = true
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		f = ff
		indexed = old != nil && old.Kind == index.Dir && old.Opaque == ff.opaque && old.Origin == ff.redirect
		row := &index.Row{Arena: s.arena, Path: p, Kind: index.Dir, Inode: fi.Ino, Origin: ff.redirect, Opaque: ff.opaque}
		if old != nil && old.Kind == index.Dir {
			row.Blob = old.Blob
		} else if rf, found, err := s.r.remote.Lookup(s.ctx, s.arena, p); err != nil {
			return nil, fmt.Errorf("remote lookup %s/%s: %w", s.arena, p, err)
		} else if found {
			// A new local dir where the lower has a file: it replaces
			// (deletes) that file. A remote file arriving later under
			// an existing local dir is a conflict the dir wins, not a
			// local deletion: the Blob is only taken when the dir is new.
			row.Blob = rf.Blob
		}
		return row, nil
	})
	if err != nil || gone {
		return err // gone: replaced or removed meanwhile, the watcher hears of it
	}
	s.facts[p] = &f
	st := s.childState(ps, p, &f)
	if st.hiding && !st.settled && (f.opaque || f.hasRedir) {
		st.settled = indexed // it hides, and did so before this pass
	}
	// Expansion roots: a redirected dir, or the scope root when an ancestor
	// moves lower content into it (below, the expansion covers plain dirs).
	if s.moved(st, p) && (f.hasRedir || root) {
		if err := s.expandMoved(p, st.lower, false); err != nil {
			return err
		}
	}
	if st.hiding && !st.covered {
		if err := s.expandHidden(p, false, st.settled); err != nil {
			return err
		}
		st.covered = true
	}
	return s.walkDir(p, st, full)
}

// walkDir walks the entries of the upper dir at p, whose state is st.
func (s *syncer) walkDir(p string, st dirState, full string) error {
	fd, names, err := s.readDirNames(full)
	if vanished(err) {
		return nil // replaced or removed meanwhile: the watcher hears of it
	}
	if err != nil {
		return s.unreadable(p, full, err, false)
	}
	defer unix.Close(fd)
	var cst unix.Stat_t
	for _, name := range names {
		child := pjoin(p, name)
		if err := tree.CheckPath(child); err != nil {
			s.r.skipOnce(full+"/"+name, err.Error())
			continue
		}
		// Relative to the open dir: no path lookup per entry.
		err := unix.Fstatat(fd, name, &cst, unix.AT_SYMLINK_NOFOLLOW)
		if err := s.walkStat(child, full, name, &cst, err, st, false); err != nil {
			return err
		}
	}
	return nil
}

// readDirNames opens dir and lists its entry names (getdents, without
// stat'ing them) in byte order, which is tree order among siblings. The
// caller closes fd.
func (s *syncer) readDirNames(dir string) (fd int, names []string, err error) {
	fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	if s.dirent == nil {
		s.dirent = make([]byte, 64<<10)
	}
	for {
		n, err := unix.ReadDirent(fd, s.dirent)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return -1, nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(s.dirent[:n], -1, names)
	}
	slices.Sort(names)
	return fd, names, nil
}

// decodeFile decodes a non-directory upper entry: plain file, metacopy
// file or whiteout. What is not synced (symlinks, devices, fifos, sockets)
// is skipped but still takes its path in the merged view: the remote file
// or dir there is not shown, so it is decoded as a whiteout (without that,
// a remote file deleted and then replaced by a symlink was announced again
// with a Link, and a remote dir replaced by one kept its files on the
// other peers).
func (s *syncer) decodeFile(p, full string, st *unix.Stat_t, ps dirState, old *index.Row) (*index.Row, error) {
	row := index.Row{Arena: s.arena, Path: p, Size: st.Size, Mtime: timespec(st.Mtim), Ctime: timespec(st.Ctim), Inode: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if st.Rdev != 0 {
			s.r.skipOnce(full, "device file")
		}
		return s.whiteout(row)
	case unix.S_IFREG:
	case unix.S_IFLNK:
		s.r.skipOnce(full, "symbolic link")
		return s.whiteout(row)
	default:
		s.r.skipOnce(full, "special file")
		return s.whiteout(row)
	}
	f, err := readFacts(full, overlayPrefix(s.r.l.UserXattr))
	if vanished(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case f.whiteout && st.Size == 0:
		return s.whiteout(row)
	case f.metacopy:
		row.Kind = index.Meta
		origin := ""
		if f.hasRedir {
			if origin, err = parseRedirect(f.redirect, ps.lower); err != nil {
				s.r.log.Warn("ignoring overlay redirect", "path", full, "err", err)
				origin = ""
			}
		} else if ps.lower != "" {
			origin = ps.lower + "/" + pathBase(p)
		}
		row.Origin = origin
		if origin != "" {
			if a, rel, ok := tree.Split(s.r.l.Arenas, origin); ok && rel != "" {
				rf, found, err := s.r.remote.Lookup(s.ctx, a, rel)
				if err != nil {
					return nil, fmt.Errorf("remote lookup %s: %w", origin, err)
				}
				if found {
					row.Blob = rf.Blob
				}
			}
		}
		return &row, nil
	}
	row.Kind = index.File
	h, n, err := blob.File(full)
	if vanished(err) {
		return nil, nil // removed meanwhile: the watcher hears of it
	}
	if err != nil {
		// Unreadable (permissions, I/O error): left as indexed, reported.
		s.r.skipOnce(full, "cannot read file, left as indexed: "+err.Error())
		return old, nil
	}
	atomic.AddInt64(&s.r.hashed, 1)
	if st.Nlink > 1 {
		// Other names of this inode changed too, without an event there.
		s.links = append(s.links, st.Ino)
	}
	if n != row.Size {
		// Written while hashing: keep the hash with the size of the bytes
		// it covers (announcing the earlier stat size with it would name
		// bytes nobody can serve), but not a stat that would let the next
		// pass believe it is current: the writes' own events bring that
		// pass, which re-hashes.
		row.Size = n
		row.Ctime = time.Time{}
	}
	row.Blob = h
	return &row, nil
}

// staleMeta brings an unchanged metacopy (row old) in line with the remote
// version of its data when that changed without RemoteChanged following it
// (the daemon stopped between applying a peer's Link to the Unreal and
// telling the Real): the upper file gets the remote size and mtime, as
// RemoteChanged does, so that the merged view does not show one version's
// size with another's bytes. At its own path that is the peers' change, no
// history of this peer (the row is put as the old one); renamed here, what
// the new path shows changed (Link, by change). A remote version gone is
// left to RemoteChanged (an explicit Unlink) and verify: an Unreal cache
// that lost entries must not remove local metadata changes.
func (s *syncer) staleMeta(p, full string, old *index.Row) (*index.Row, *index.Row, error) {
	a, rel, ok := tree.Split(s.r.l.Arenas, old.Origin)
	if !ok || rel == "" {
		return old, old, nil
	}
	f, found, err := s.r.remote.Lookup(s.ctx, a, rel)
	if err != nil {
		return nil, nil, fmt.Errorf("remote lookup %s: %w", old.Origin, err)
	}
	if !found || f.Blob.IsZero() || (f.Blob == old.Blob && f.Size == old.Size) {
		return old, old, nil
	}
	row := *old
	if err := s.r.resizeMeta(&row, history.Entry{Size: f.Size, Mtime: f.Mtime, Blob: f.Blob}); err != nil {
		return nil, nil, err
	}
	s.r.log.Info("metacopy brought in line with the remote version of its data", "path", full, "origin", old.Origin)
	if old.Origin == tree.Join(s.arena, p) {
		s.cs.Put = append(s.cs.Put, row)
		s.n++
		return &row, &row, nil
	}
	return old, &row, nil
}

// statUnchanged reports whether the non-directory upper entry stat'ed as
// st is what the old row recorded (size, mtime, ctime, inode): its
// content and overlay xattrs (which change ctime) are then as decoded.
func statUnchanged(old *index.Row, st *unix.Stat_t) bool {
	return old != nil && (old.Kind == index.File || old.Kind == index.Meta || old.Kind == index.Whiteout) &&
		old.Size == st.Size && old.Inode == st.Ino &&
		old.Mtime.Equal(timespec(st.Mtim)) && old.Ctime.Equal(timespec(st.Ctim))
}

func (s *syncer) whiteout(row index.Row) (*index.Row, error) {
	row.Kind = index.Whiteout
	row.Size = 0
	rf, found, err := s.r.remote.Lookup(s.ctx, s.arena, row.Path)
	if err != nil {
		return nil, fmt.Errorf("remote lookup %s/%s: %w", s.arena, row.Path, err)
	}
	if found {
		row.Blob = rf.Blob
	}
	return &row, nil
}

func timespec(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

// expandMoved queues a Moved row for every lower file under lower that the
// merged dir e shows (lower files of a redirected dir), except where the
// upper below e has its own entry. self: also the file at lower itself.
func (s *syncer) expandMoved(e, lower string, self bool) error {
	a, rel, ok := tree.Split(s.r.l.Arenas, lower)
	if !ok {
		return nil
	}
	add := func(sub string, f RemoteFile) error {
		p := pjoin(e, sub)
		shadowed, err := s.shadowed(e, sub)
		if err != nil || shadowed {
			return err
		}
		heap.Push(&s.pending, pendingRow{prec: 1, row: index.Row{Arena: s.arena, Path: p, Kind: index.Moved,
			Size: f.Size, Mtime: f.Mtime, Blob: f.Blob, Origin: tree.Join(a, pjoin(rel, sub))}})
		return nil
	}
	if self && rel != "" {
		f, found, err := s.r.remote.Lookup(s.ctx, a, rel)
		if err != nil {
			return fmt.Errorf("remote lookup %s: %w", lower, err)
		}
		if found {
			if err := add("", f); err != nil {
				return err
			}
		}
	}
	err := s.r.remote.Walk(s.ctx, a, rel, func(path string, f RemoteFile) error {
		sub := path
		if rel != "" {
			if !strings.HasPrefix(path, rel+"/") {
				return nil
			}
			sub = path[len(rel)+1:]
		}
		return add(sub, f)
	})
	if err != nil {
		return fmt.Errorf("remote walk %s: %w", lower, err)
	}
	return nil
}

// shadowed reports whether the upper below merged dir e has its own say
// on e/sub: an entry there, or on the way a non-dir, an opaque dir or a
// redirected dir.
func (s *syncer) shadowed(e, sub string) (bool, error) {
	if sub == "" {
		return false, nil
	}
	p := e
	elems := strings.Split(sub, "/")
	for i, el := range elems {
		p = pjoin(p, el)
		f, isDir, exists, err := s.dirFacts(p)
		if err != nil || !exists {
			return false, err
		}
		if i == len(elems)-1 || !isDir || f.opaque || f.hasRedir {
			return true, nil
		}
	}
	return false, nil
}

// expandHidden queues a Hidden row for every remote file under merged path
// h (and at h itself when self): they are not shown at their paths.
// settled: what hides them was indexed before this pass (see virtual).
func (s *syncer) expandHidden(h string, self, settled bool) error {
	if self {
		f, found, err := s.r.remote.Lookup(s.ctx, s.arena, h)
		if err != nil {
			return fmt.Errorf("remote lookup %s/%s: %w", s.arena, h, err)
		}
		if found {
			heap.Push(&s.pending, pendingRow{prec: 2, row: hiddenRow(s.arena, h, f), settled: settled})
		}
	}
	err := s.r.remote.Walk(s.ctx, s.arena, h, func(path string, f RemoteFile) error {
		if !index.Within(path, h) || path == h {
			return nil
		}
		heap.Push(&s.pending, pendingRow{prec: 2, row: hiddenRow(s.arena, path, f), settled: settled})
		return nil
	})
	if err != nil {
		return fmt.Errorf("remote walk %s/%s: %w", s.arena, h, err)
	}
	return nil
}

func hiddenRow(arena, p string, f RemoteFile) index.Row {
	return index.Row{Arena: arena, Path: p, Kind: index.Hidden, Size: f.Size, Mtime: f.Mtime, Blob: f.Blob}
}

// pendingRow is a virtual row waiting for its place in tree order; at the
// same path an upper row wins, then Moved (prec 1), then Hidden (prec 2).
type pendingRow struct {
	prec    int
	row     index.Row
	settled bool // a Hidden row under what hid it before this pass
}

type pendingHeap []pendingRow

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if c := index.Compare(h[i].row.Path, h[j].row.Path); c != 0 {
		return c < 0
	}
	return h[i].prec < h[j].prec
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pendingRow)) }
func (h *pendingHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// emitPendingBefore settles the virtual rows before p and drops those at p
// (an upper entry at p wins).
func (s *syncer) emitPendingBefore(p string) error {
	for s.pending.Len() > 0 {
		c := index.Compare(s.pending[0].row.Path, p)
		if c > 0 {
			return nil
		}
		it := heap.Pop(&s.pending).(pendingRow)
		if c == 0 {
			continue
		}
		if err := s.virtual(it); err != nil {
			return err
		}
	}
	return nil
}

// virtual settles a virtual row (the first of its path wins).
//
// A Hidden row new at its path, under an upper entry that hid that part of
// the lower before this pass (settled), is a remote file that arrived
// under a dir deleted here, not a local deletion: a local-deleted conflict
// with the row taking its blob, as RemoteChanged records it
// (remoteUnderDeleted), and no Unlink. This is the pass that meets it when
// RemoteChanged did not (the daemon stopped between applying a peer's Link
// to the Unreal and telling the Real, or a pass ran in between): before,
// it Unlinked the peer's new file from every peer though nobody here
// deleted it.
func (s *syncer) virtual(it pendingRow) error {
	row := it.row
	for s.pending.Len() > 0 && s.pending[0].row.Path == row.Path {
		heap.Pop(&s.pending)
	}
	old, err := s.oldAt(row.Path)
	if err != nil {
		return err
	}
	if old == nil && it.settled && row.Kind == index.Hidden && !row.Blob.IsZero() {
		// Unless a dir renamed here shows it elsewhere: then it is moved
		// with that dir (Link there, Unlink here), as the rename was.
		moved, err := s.renamedAway(row.Path)
		if err != nil {
			return err
		}
		if moved {
			return s.change(old, &row)
		}
		s.r.log.Warn("conflict: a remote file under a directory deleted here; it stays deleted here", "arena", s.arena, "path", row.Path)
		s.cs.Put = append(s.cs.Put, row)
		s.cs.Conflicts = append(s.cs.Conflicts, index.Conflict{Arena: s.arena, Path: row.Path, Kind: index.ConflictLocalDeleted,
			RemoteBlob: row.Blob, Time: time.Now()})
		s.n++
		if s.n >= flushAt {
			return s.flush()
		}
		return nil
	}
	return s.change(old, &row)
}

// renamedAway reports whether a dir renamed here (as indexed) shows remote
// path p of the arena at its new path (where a dir inside it renamed again
// or deleted hides it, it shows nowhere).
func (s *syncer) renamedAway(p string) (bool, error) {
	if !s.redirLoaded {
		dirs, err := s.r.redirectLowers(s.ctx)
		if err != nil {
			return false, err
		}
		s.redirs, s.redirLoaded = dirs, true
	}
	full := tree.Join(s.arena, p)
	for _, d := range s.redirs {
		if !index.Within(full, d.lower) || full == d.lower {
			continue
		}
		if shows, err := s.r.showsLowerAt(d.Arena, pjoin(d.Path, strings.TrimPrefix(full, d.lower+"/")), full); err != nil || shows {
			return shows, err
		}
	}
	return false, nil
}

// indexedHiding reports whether the index had the upper entry at merged
// path p (not walked by this pass: an ancestor of its scope) as hiding
// what it hides now: a whiteout or file row for a non-directory (f nil),
// a dir row with the same opaque flag and redirect.
func (s *syncer) indexedHiding(p string, f *facts) (bool, error) {
	row, ok, err := s.r.ix.Get(s.ctx, s.arena, p)
	if err != nil || !ok {
		return false, err
	}
	if f == nil {
		return row.Kind == index.Whiteout || row.Kind == index.File, nil
	}
	return row.Kind == index.Dir && row.Opaque == f.opaque && row.Origin == f.redirect, nil
}

// emitUpper settles the upper entry at p: decode gets the old row at p
// (nil if none) and returns the new one (nil: skipped).
func (s *syncer) emitUpper(p string, decode func(old *index.Row) (*index.Row, error)) (*index.Row, error) {
	if err := s.emitPendingBefore(p); err != nil {
		return nil, err
	}
	old, err := s.oldAt(p)
	if err != nil {
		return nil, err
	}
	row, err := decode(old)
	if err != nil {
		return nil, err
	}
	return row, s.change(old, row)
}

func (s *syncer) peekOld() (*index.Row, error) {
	if s.old != nil || s.oldDone {
		return s.old, nil
	}
	r, err, ok := s.next()
	if !ok {
		s.oldDone = true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.old = r
	return s.old, nil
}

// oldAt settles the old rows before p as gone and returns the one at p.
func (s *syncer) oldAt(p string) (*index.Row, error) {
	for {
		o, err := s.peekOld()
		if err != nil || o == nil {
			return nil, err
		}
		c := index.Compare(o.Path, p)
		if c > 0 {
			return nil, nil
		}
		s.old = nil
		if c == 0 {
			return o, nil
		}
		if err := s.change(o, nil); err != nil {
			return nil, err
		}
	}
}

// pjoin joins path elements inside an arena ("" is the arena root).
func pjoin(dir, name string) string {
	switch {
	case dir == "":
		return name
	case name == "":
		return dir
	}
	return dir + "/" + name
}

// unreadable reports an upper entry (or dir listing) that cannot be read,
// and leaves what the index has below it (and at it, when self) as it is:
// missing is not deleted.
func (s *syncer) unreadable(p, full string, err error, self bool) error {
	s.r.skipOnce(full, "cannot read, left as indexed: "+err.Error())
	if self {
		if err := s.emitPendingBefore(p); err != nil {
			return err
		}
		if _, err := s.oldAt(p); err != nil { // kept: not passed to change
			return err
		}
	}
	return s.keepBelow(p)
}

// keepBelow leaves the index rows strictly below p as they are (and drops
// the virtual rows waiting there).
func (s *syncer) keepBelow(p string) error {
	for s.pending.Len() > 0 && index.Within(s.pending[0].row.Path, p) {
		heap.Pop(&s.pending)
	}
	for {
		o, err := s.peekOld()
		if err != nil || o == nil || !index.Within(o.Path, p) {
			return err
		}
		s.old = nil
	}
}

// vanished reports an error of an entry removed or replaced (by a
// non-directory) while a pass looked at it.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}
