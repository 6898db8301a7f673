package real

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/realsync/real/index"
	"github.com/realsync/real/tree"
)

// Debounce timing of the watcher: a path is settled once it has been quiet
// for settleQuiet, or at the latest settleMax after its first event (so a
// steady stream of writes is still recorded with low latency).
const (
	settleQuiet = 50 * time.Millisecond
	settleMax   = 200 * time.Millisecond
	settleTick  = 20 * time.Millisecond
)

// eventBuffer is the user-space event queue (on top of the kernel's).
const eventBuffer = 1 << 16

// DefaultScanEvery is how often the watcher scans the whole upper when it
// cannot watch every directory (inotify watch limit reached).
const DefaultScanEvery = time.Minute

// watchLimitSysctl is the setting to raise when the watch limit is reached.
const watchLimitSysctl = "fs.inotify.max_user_watches"

type pendingPath struct{ first, last time.Time }

// watcher is the state of one Serve: the inotify watcher, the dirs it
// watches (to drop the watches of a renamed tree) and whether some dirs
// could not be watched.
type watcher struct {
	r    *Real
	w    *fsnotify.Watcher
	dirs map[string]fileID // watched dirs (full paths) and their inodes
	// byIno names the watched dir of each inode: a dir moved before the
	// event of its old name is handled is watched under the old name, and
	// inotify would hand the old watch back for the new name (see add).
	byIno   map[fileID]string
	limited bool // some dir could not be watched: the watch limit was reached
	// limitLogged: the current episode of hitting the limit was logged
	// (the periodic rescans while it lasts hit it again, silently).
	limitLogged bool
	pending     map[scope]*pendingPath
}

// Serve watches the upper (inotify, recursively) until ctx is done, then
// returns nil. Every settled path is re-decoded and recorded as CatchUp
// does for a subtree. It first catches up with what changed before the
// watches were in place; an overflowing event queue triggers a full
// catch-up. When the inotify watch limit is reached it says so (naming
// fs.inotify.max_user_watches) and falls back to a full scan every
// ScanEvery, trying to watch everything again each time. An unreadable
// directory is reported and left as indexed. It returns an error
// (ErrUpperMissing, a database error) when it cannot go on recording safely.
func (r *Real) Serve(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.l.Upper, err)
	}
	defer fw.Close()
	if r.hooks.watcherCreated != nil {
		r.hooks.watcherCreated()
	}
	q := newEventQueue(r.eventBuf)
	go q.pump(fw)
	w := &watcher{r: r, w: fw, dirs: map[string]fileID{}, byIno: map[fileID]string{}, pending: map[scope]*pendingPath{}}
	if err := w.watchAll(); err != nil {
		return err
	}
	if err := r.CatchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped during the first catch-up: not a failure
		}
		return err
	}
	if r.hooks.serving != nil {
		r.hooks.serving()
	}
	tick := time.NewTicker(settleTick)
	defer tick.Stop()
	var scanC <-chan time.Time
	var scan *time.Ticker
	defer func() {
		if scan != nil {
			scan.Stop()
		}
	}()
	for {
		if w.limited && scan == nil {
			scan = time.NewTicker(r.scanEvery)
			scanC = scan.C
		} else if !w.limited && scan != nil {
			scan.Stop()
			scan, scanC = nil, nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.ready:
			evs, errs, closed := q.take()
			now := time.Now()
			for _, ev := range evs {
				w.event(ev, now) // even before a rescan: renames drop watches
			}
			if len(errs) > 0 {
				for _, err := range errs[1:] {
					r.log.Debug("watcher error (one rescan for all)", "err", err)
				}
				if err := w.watchError(ctx, errs[0]); err != nil {
					return err
				}
			}
			if closed {
				return nil
			}
		case <-scanC:
			r.log.Info("periodic scan of the upper (not every directory is watched)")
			if err := w.rescan(ctx); err != nil {
				return err
			}
		case now := <-tick.C:
			ready := settled(w.pending, now)
			if len(ready) == 0 {
				continue
			}
			if r.hooks.beforePass != nil {
				r.hooks.beforePass()
			}
			if err := r.sync(ctx, ready); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("record changes: %w", err)
			}
		}
	}
}

// watchError answers an error of the watcher: events may be lost, so
// everything is watched again and rescanned.
func (w *watcher) watchError(ctx context.Context, err error) error {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		w.r.log.Warn("watcher error", "err", err)
	}
	w.r.log.Info("rescanning the upper", "reason", err)
	w.r.rescans.Add(1)
	return w.rescan(ctx)
}

// rescan watches everything again and catches up with the whole upper.
func (w *watcher) rescan(ctx context.Context) error {
	clear(w.pending)
	// Dropped events may have told of dirs moved away: their watches
	// would report events under the old names.
	var st unix.Stat_t
	for d, ino := range w.dirs {
		if err := unix.Lstat(d, &st); err != nil || idOf(&st) != ino {
			w.unwatchTree(d) // gone, or another dir now has its name
		}
	}
	was := w.limited
	if err := w.watchAll(); err != nil {
		return err
	}
	if was && !w.limited {
		w.r.log.Info("every upper directory is watched again; periodic scans stop")
	}
	if err := w.r.CatchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return nil
}

// event notes a path as pending, and watches new directories (the pass
// that settles them scans what was created before the watch was added).
func (w *watcher) event(ev fsnotify.Event, now time.Time) {
	r := w.r
	rel, err := filepath.Rel(r.l.Upper, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	if ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
		// A watched tree moved away: its watches would report events under
		// the old name. Drop them; the new name arrives as a Create.
		w.unwatchTree(ev.Name)
	}
	rel = filepath.ToSlash(rel)
	arena, p, ok := tree.Split(r.l.Arenas, rel)
	if !ok {
		// A directory on the way to an arena ("music" of "music/jazz").
		if ev.Has(fsnotify.Create) && r.aboveArena(rel) {
			w.watchTree(ev.Name)
			for _, a := range r.l.Arenas {
				if strings.HasPrefix(a, rel+"/") {
					w.note(scope{arena: a}, now)
				}
			}
		}
		return
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Chmod) {
		// Chmod: a dir that was unreadable may be readable now.
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && (ev.Has(fsnotify.Create) || !w.watched(ev.Name)) {
			w.watchTree(ev.Name)
		}
	}
	w.note(scope{arena: arena, dir: p}, now)
}

func (w *watcher) note(sc scope, now time.Time) {
	if pp := w.pending[sc]; pp != nil {
		pp.last = now
		return
	}
	w.pending[sc] = &pendingPath{first: now, last: now}
}

// settled removes and returns the pending scopes that are ready, without
// those inside another ready scope.
func settled(pending map[scope]*pendingPath, now time.Time) []scope {
	var ready []scope
	for sc, pp := range pending {
		if now.Sub(pp.last) >= settleQuiet || now.Sub(pp.first) >= settleMax {
			ready = append(ready, sc)
			delete(pending, sc)
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		if ready[i].arena != ready[j].arena {
			return ready[i].arena < ready[j].arena
		}
		return index.Less(ready[i].dir, ready[j].dir)
	})
	out := ready[:0]
	for _, sc := range ready {
		if n := len(out); n > 0 && out[n-1].arena == sc.arena && index.Within(sc.dir, out[n-1].dir) {
			continue // tree order puts an enclosing scope first
		}
		out = append(out, sc)
	}
	return out
}

func (r *Real) aboveArena(rel string) bool {
	for _, a := range r.l.Arenas {
		if strings.HasPrefix(a, rel+"/") {
			return true
		}
	}
	return false
}

// watchAll watches the upper root, the dirs on the way to each arena and
// every dir of each arena.
func (w *watcher) watchAll() error {
	r := w.r
	w.limited = false
	if err := w.add(r.l.Upper); err != nil && !w.limited {
		return fmt.Errorf("%w: watch %s: %w", ErrUpperMissing, r.l.Upper, err)
	}
	for _, a := range r.l.Arenas {
		elems := strings.Split(a, "/")
		for i := 1; i < len(elems); i++ {
			d := filepath.Join(r.l.Upper, filepath.Join(elems[:i]...))
			if err := w.add(d); err != nil && !errors.Is(err, fs.ErrNotExist) && !w.limited {
				return fmt.Errorf("watch %s: %w", d, err)
			}
		}
		w.watchTree(r.upperPath(a, ""))
	}
	r.watchLimited.Store(w.limited)
	if !w.limited {
		w.limitLogged = false // the episode is over; a new one is logged again
	}
	return nil
}

// add watches dir. Hitting the watch limit (ENOSPC) is logged once per
// episode and sets w.limited; an unreadable dir is logged once.
func (w *watcher) add(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err == nil {
		// Watched under another name: the tree was moved here and the
		// event of its old name is still to come (say the move's target
		// dir was copied up and walked first). inotify returns the old
		// watch for the new name, fsnotify keeps reporting the old names,
		// and dropping the old name's watches later would leave this tree
		// unwatched: drop them now, then watch it under its new name.
		if old, ok := w.byIno[idOf(&st)]; ok && old != dir {
			w.unwatchTree(old)
		}
		// Watched, but another dir (moved away): forget the old watch.
		if ino, ok := w.dirs[dir]; ok && ino != idOf(&st) {
			w.unwatchTree(dir)
		}
	}
	err := w.w.Add(dir)
	switch {
	case err == nil:
		w.dirs[dir] = idOf(&st)
		if st.Ino != 0 {
			w.byIno[idOf(&st)] = dir
		}
		return nil
	case errors.Is(err, unix.ENOSPC):
		if !w.limitLogged {
			w.limitLogged = true
			w.r.log.Error("inotify watch limit reached: not every upper directory is watched; raise "+watchLimitSysctl+
				" (sysctl -w "+watchLimitSysctl+"=N, N above the number of directories in the upper); until then the upper is scanned periodically",
				"dir", dir, "scan_every", w.r.scanEvery)
		}
		w.limited = true
		w.r.watchLimited.Store(true)
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		w.r.skipOnce(dir, "directory cannot be watched (unreadable): "+err.Error())
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR):
	default:
		w.r.log.Warn("cannot watch directory", "dir", dir, "err", err)
	}
	return err
}

// watchTree watches dir and every dir under it; what vanishes meanwhile is skipped.
func (w *watcher) watchTree(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && !vanished(err) {
				w.r.skipOnce(p, "directory cannot be read: "+err.Error())
			}
			return nil
		}
		if d.IsDir() {
			if err := w.add(p); err != nil && w.limited {
				return filepath.SkipAll
			}
		}
		return nil
	})
}

// fileID names an inode: device and inode number.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: st.Ino} }

func (w *watcher) watched(dir string) bool {
	_, ok := w.dirs[dir]
	return ok
}

// unwatchTree drops the watches of dir and every dir under it.
func (w *watcher) unwatchTree(dir string) {
	if !w.watched(dir) {
		return
	}
	var gone []string
	for d, ino := range w.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			delete(w.dirs, d)
			if w.byIno[ino] == d {
				delete(w.byIno, ino)
			}
			gone = append(gone, d)
		}
	}
	// Safe to call here: the queue's pump keeps reading fsnotify's
	// channels (see eventQueue).
	for _, d := range gone {
		w.w.Remove(d) // may be gone already (IN_IGNORED)
	}
}
