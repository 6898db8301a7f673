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

type pendingPath struct{ first, last time.Time }

// Serve watches the upper (inotify, recursively) until ctx is done, then
// returns nil. Every settled path is re-decoded and recorded as CatchUp
// does for a subtree. It first catches up with what changed before the
// watches were in place; an overflowing event queue triggers a full
// catch-up. It returns an error (ErrUpperMissing, a database error) when
// it cannot go on recording safely.
func (r *Real) Serve(ctx context.Context) error {
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.l.Upper, err)
	}
	defer w.Close()
	if err := r.watchAll(w); err != nil {
		return err
	}
	if err := r.CatchUp(ctx); err != nil {
		return err
	}
	pending := map[scope]*pendingPath{}
	tick := time.NewTicker(settleTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			r.event(w, ev, pending, time.Now())
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				r.log.Warn("watcher error", "err", err)
			}
			// Events may be lost: watch everything again and rescan.
			r.log.Info("rescanning the upper", "reason", err)
			clear(pending)
			if err := r.watchAll(w); err != nil {
				return err
			}
			if err := r.CatchUp(ctx); err != nil {
				return err
			}
		case now := <-tick.C:
			ready := settled(pending, now)
			if len(ready) == 0 {
				continue
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

// event notes a path as pending, and watches new directories (the pass
// that settles them scans what was created before the watch was added).
func (r *Real) event(w *fsnotify.Watcher, ev fsnotify.Event, pending map[scope]*pendingPath, now time.Time) {
	rel, err := filepath.Rel(r.l.Upper, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	rel = filepath.ToSlash(rel)
	arena, p, ok := tree.Split(r.l.Arenas, rel)
	if !ok {
		// A directory on the way to an arena ("music" of "music/jazz").
		if ev.Has(fsnotify.Create) && r.aboveArena(rel) {
			r.watchTree(w, ev.Name)
			for _, a := range r.l.Arenas {
				if strings.HasPrefix(a, rel+"/") {
					r.note(pending, scope{arena: a}, now)
				}
			}
		}
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			r.watchTree(w, ev.Name)
		}
	}
	r.note(pending, scope{arena: arena, dir: p}, now)
}

func (r *Real) note(pending map[scope]*pendingPath, sc scope, now time.Time) {
	if pp := pending[sc]; pp != nil {
		pp.last = now
		return
	}
	pending[sc] = &pendingPath{first: now, last: now}
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
func (r *Real) watchAll(w *fsnotify.Watcher) error {
	if err := w.Add(r.l.Upper); err != nil {
		return fmt.Errorf("%w: watch %s: %w", ErrUpperMissing, r.l.Upper, err)
	}
	for _, a := range r.l.Arenas {
		elems := strings.Split(a, "/")
		for i := 1; i < len(elems); i++ {
			d := filepath.Join(r.l.Upper, filepath.Join(elems[:i]...))
			if err := w.Add(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("watch %s: %w", d, err)
			}
		}
		r.watchTree(w, r.upperPath(a, ""))
	}
	return nil
}

// watchTree watches dir and every dir under it; what vanishes meanwhile is skipped.
func (r *Real) watchTree(w *fsnotify.Watcher, dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if err := w.Add(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				r.log.Warn("cannot watch directory", "dir", p, "err", err)
			}
		}
		return nil
	})
}
