package unreal

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
)

// invalidate tells the kernel about the changes of one committed Apply, so
// that the FUSE mount and the overlay stacked on it show them at once
// rather than after the 1 s cache timeouts.
//
// For the FUSE mount itself the go-fuse notifications suffice. go-fuse knows
// every inode the kernel holds (the tree of looked-up children from the
// root), so for each changed path we walk that tree:
//   - a name that appeared: NotifyEntry(name) on its parent drops a negative
//     dentry (from a lookup while the name was absent);
//   - a name that went away: NotifyEntry(name) (see the removal case below
//     for why not NotifyDelete);
//   - a file whose served version changed: NotifyContent(0, 0) on it drops
//     its cached pages and attributes (size, mtime) together. The overlay
//     reads attributes and data from the lower inode every time, so a change
//     shows in the merged view at once (verified by TestOverlayChanged).
//
// The overlay on top needs more (found on Linux 6.18, see overlay_test.go):
//   - overlayfs caches negative dentries of its own and never revalidates
//     them (only dentries with a remote real dentry get d_revalidate), so a
//     name looked up in the merged view while absent stays absent there
//     forever, whatever the lower layer says or its timeouts;
//   - a positive overlay dentry whose lower dentry no longer revalidates
//     answers ESTALE ("stale file handle") instead of ENOENT, again until the
//     overlay dentry is evicted.
//
// Nothing evicts one overlay dentry from outside, so as the last resort we
// write 2 to /proc/sys/vm/drop_caches (frees unused dentries and inodes of
// every filesystem; not the page cache) after the notifications, but only
// when it is needed: a name appeared that a Lookup answered as absent (see
// absent.go), or a name went away (whose inode the kernel may hold).
func (s *Server) invalidate(changes []change) {
	// First of all: from now on no open directory's listing answers a
	// lookup (the listings may predate the commit).
	s.gen.Add(1)
	root := s.root.EmbeddedInode()
	drop := false
	for _, n := range fold(changes) {
		if !n.before && n.after && s.absent.take(n.full) {
			drop = true
		}
		elems := strings.Split(n.full, "/")
		parent := root
		for _, el := range elems[:len(elems)-1] {
			if parent = parent.GetChild(el); parent == nil {
				break
			}
		}
		if parent == nil {
			continue
		}
		name := elems[len(elems)-1]
		child := parent.GetChild(name)
		switch {
		case n.before && !n.after:
			// NotifyEntry, not NotifyDelete: a delete notification turns
			// the kernel's dentry negative, and a stale overlay dentry
			// over it then fails revalidation without asking us, so the
			// self-healing drop on re-lookup (see gone) could never run.
			s.notified("entry", n.full, parent.NotifyEntry(name))
			// Drop even when go-fuse knows no child: a lookup in flight
			// (it read the name before the commit) may hand the kernel
			// the inode right after this check, and the overlay would
			// then answer ESTALE for it until its dentry is evicted.
			// Should a stale dentry survive anyway, the next lookup of
			// the name (its revalidation) drops again (see gone).
			drop = true
			s.gone.mark(n.full, time.Now())
		case n.before && n.after && n.onlyModified:
			if child != nil {
				s.notified("content", n.full, child.NotifyContent(0, 0))
			}
		default: // appeared, or went and came back within the batch
			s.gone.unmark(n.full)
			s.notified("entry", n.full, parent.NotifyEntry(name))
			if child != nil && n.before {
				s.notified("content", n.full, child.NotifyContent(0, 0))
			}
		}
	}
	// Directories whose listing changed: their attributes (the mtime)
	// must not be answered from the kernel's cache.
	for _, full := range relisted(changes) {
		if n := s.known(full); n != nil {
			s.notified("content", full, n.NotifyContent(0, 0))
		}
	}
	if drop {
		s.dropDentries()
	}
}

// known returns the inode the kernel holds for full, or nil.
func (s *Server) known(full string) *fs.Inode {
	n := s.root.EmbeddedInode()
	if full == "" {
		return n
	}
	for _, el := range strings.Split(full, "/") {
		if n = n.GetChild(el); n == nil {
			return nil
		}
	}
	return n
}

// relisted returns, once each, the directories whose listing changed and
// which still exist.
func relisted(changes []change) []string {
	seen := make(map[string]bool)
	var out []string
	for _, ch := range changes {
		if ch.kind == listed && !seen[ch.full] {
			seen[ch.full] = true
			out = append(out, ch.full)
		}
	}
	return out
}

// DropDentries makes the kernel free every unused dentry and inode, which is
// the only way to evict stale overlayfs dentries (see invalidate). Apply
// calls it when needed; the daemon calls it after it changed STORE/upper
// behind the overlay's back (e.g. removed a local copy there), since the
// overlay caches the upper layer's state in its dentries too.
func (s *Server) DropDentries() { s.dropDentries() }

// dropDentries is DropDentries. Serialised: concurrent Applies wait for each
// other's drop rather than piling up.
//
// The kernel frees only dentries nobody uses at that instant: a stale one
// that a concurrent lookup (say, a user polling with stat) holds during the
// drop survives it. So one more drop follows after redropAfter (coalesced:
// at most one pending), which a dentry held across both is very unlikely to
// survive.
func (s *Server) dropDentries() {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	s.absent.reset()
	s.writeDrop()
	s.dropAfter(redropAfter)
}

// dropSoon drops the unused dentries shortly (coalesced with any pending
// drop), and at most once per healEvery: a reader polling a stale name
// must not turn into a machine-wide drop every few milliseconds.
func (s *Server) dropSoon() {
	d := 10 * time.Millisecond
	if since := time.Duration(time.Now().UnixNano() - s.lastHeal.Load()); since < healEvery {
		d = max(d, healEvery-since)
	}
	s.dropAfter(d)
}

// healEvery is the least time between two self-healing drops.
const healEvery = 100 * time.Millisecond

// dropAfter schedules one drop after d unless one is pending already.
func (s *Server) dropAfter(d time.Duration) {
	if s.redrop.CompareAndSwap(false, true) {
		time.AfterFunc(d, func() {
			s.dropMu.Lock()
			defer s.dropMu.Unlock()
			s.redrop.Store(false)
			s.lastHeal.Store(time.Now().UnixNano())
			s.writeDrop()
		})
	}
}

// redropAfter is the delay of the second drop of dropDentries.
const redropAfter = 150 * time.Millisecond

// writeDrop drops twice: the kernel's dentry LRU gives a dentry used since
// the last pass a second chance (it clears DCACHE_REFERENCED and keeps it),
// and one write ends after a single pass when it frees little, which it
// does when drops are frequent. A reader polling a stale name sets that bit
// on every stat, so one write alone would never evict its dentry.
func (s *Server) writeDrop() {
	err := os.WriteFile(dropCaches, []byte("2"), 0)
	if err == nil {
		err = os.WriteFile(dropCaches, []byte("2"), 0)
	}
	if err != nil {
		s.log.Warn("unreal: cannot drop stale dentries: the overlay may show a new name as absent, or a removed one as a stale file handle, until the kernel evicts them",
			"file", dropCaches, "err", err)
	}
}

// dropCaches is the kernel knob dropDentries writes.
const dropCaches = "/proc/sys/vm/drop_caches"

// netChange is what a batch did to one path, all its changes folded.
type netChange struct {
	full          string
	before, after bool // shown before and after the batch
	onlyModified  bool // shown throughout, only its version changed
}

// fold merges the changes of one path (a batch may remove a name and bring
// it back), keeping the order in which paths were first touched.
func fold(changes []change) []netChange {
	type key struct {
		full string
		dir  bool
	}
	at := make(map[key]int)
	var out []netChange
	for _, ch := range changes {
		if ch.kind == listed {
			continue // see relisted
		}
		k := key{ch.full, ch.dir}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, netChange{full: ch.full, before: ch.kind != appeared, onlyModified: true})
		}
		out[i].after = ch.kind != removed
		if ch.kind != modified {
			out[i].onlyModified = false
		}
	}
	return out
}

// notified logs a failed notification; ENOENT only means the kernel had
// nothing cached for it.
func (s *Server) notified(what, full string, errno syscall.Errno) {
	if errno != 0 && errno != syscall.ENOENT {
		s.log.Debug("unreal: kernel notification failed", "notify", what, "path", full, "err", errno)
	}
}

// goneSet remembers names the Unreal removed in the last goneFor. A lookup
// of such a name may come from a stale overlay dentry (which answers ESTALE
// until it is evicted), so every such lookup asks for a drop (see dropSoon):
// the first drop can miss the dentry when a reader holds it at that instant,
// and a one-shot mark would then leave the name stale for good. Once the
// overlay dentry is gone the overlay caches a negative one of its own and
// the lookups stop. Bounded: past maxAbsent names the expired ones go, and
// if none has expired, all (which only costs the self-healing drop).
type goneSet struct {
	mu    sync.Mutex
	names map[string]time.Time
}

// goneFor is how long a removed name keeps its self-healing drop.
const goneFor = time.Minute

func (g *goneSet) mark(full string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.names == nil {
		g.names = make(map[string]time.Time)
	}
	if len(g.names) >= maxAbsent {
		for k, at := range g.names {
			if now.Sub(at) > goneFor {
				delete(g.names, k)
			}
		}
		if len(g.names) >= maxAbsent {
			clear(g.names)
		}
	}
	g.names[full] = now
}

// hit reports whether full was removed within goneFor.
func (g *goneSet) hit(full string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.names[full]
	if ok && now.Sub(at) > goneFor {
		delete(g.names, full)
		return false
	}
	return ok
}

// unmark forgets full (it is shown again).
func (g *goneSet) unmark(full string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.names, full)
}
