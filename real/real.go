// Package real is the local side of a peer: it decodes the overlay upper
// (STORE/upper) into the index and turns every change of it into history
// notifications (DESIGN.md "Overlay upper → meaning" and "Notifications").
//
// CatchUp compares the upper with the index after a start; Serve watches the
// upper with inotify and records each settled change; both go through the
// same decoder (sync.go), which walks a subtree of the upper and the index
// rows of that subtree in tree order and merges them. Open serves local
// files to the store service. mount.go mounts and unmounts the overlay.
package real

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/index"
)

// RemoteFile is a file the lower layer (the Unreal) holds.
type RemoteFile struct {
	Size  int64
	Mtime time.Time
	Blob  blob.Hash
}

// Remote is what the lower layer holds; the daemon adapts the Unreal cache
// to it. Paths are relative to the arena.
type Remote interface {
	// Lookup returns the remote file at arena/path, if there is one.
	Lookup(ctx context.Context, arena, path string) (RemoteFile, bool, error)
	// Walk calls fn for every remote file under dir (strictly below it;
	// "" = the whole arena), in path order.
	Walk(ctx context.Context, arena, dir string, fn func(path string, f RemoteFile) error) error
}

// Layers names the overlay directories and the arenas to index.
type Layers struct {
	Upper  string   // overlay upperdir (STORE/upper)
	Lower  string   // overlay lowerdir (STORE/lower, the Unreal mount)
	Arenas []string // arena names (top-level directories, possibly with '/')
	// UserXattr: the overlay is mounted with userxattr and keeps its facts
	// in user.overlay.*. Otherwise (the daemon's mount, as root) they are
	// in trusted.overlay.*, and a user.overlay.* xattr on an upper file is
	// the user's own data (say, a rootless container's storage kept in an
	// arena), never read as a whiteout, a redirect or a metacopy.
	UserXattr bool
}

var (
	// ErrNotFound: Open found no local plain file for that path.
	ErrNotFound = errors.New("no local file")
	// ErrChanged: the local file is not (or no longer) the version asked for.
	ErrChanged = errors.New("local file changed")
	// ErrUpperMissing: the upper (or an arena dir of it that the index
	// knows) is absent or lost its marker, or (at the first catch-up) an
	// arena dir is empty where the index has entries; nothing was
	// recorded, so that missing files are not reported deleted.
	ErrUpperMissing = errors.New("overlay upper missing")
)

// MarkerXattr is set on the upper root the first time it is indexed; an
// upper without it while the index has rows is taken for a missing upper.
const MarkerXattr = "trusted.real.upper"

// UserMarkerXattr is the same marker in the user namespace, set beside
// MarkerXattr (and alone where trusted.* cannot be set).
const UserMarkerXattr = "user.real.upper"

// Real decodes the upper into the index and records history.
type Real struct {
	l      Layers
	ix     *index.Index
	remote Remote
	log    *slog.Logger

	syncMu   sync.Mutex // one decoding pass at a time (CatchUp, Serve)
	caughtUp bool       // under syncMu: a CatchUp of this Real went through

	skipMu  sync.Mutex
	skipped map[string]bool // paths already logged as skipped

	hashed int64 // files hashed (tests check that unchanged files are not)

	eventBuf     int           // user-space event queue of the watcher
	scanEvery    time.Duration // full scans when not every dir can be watched
	rescans      atomic.Int64  // event queue overflows answered by a rescan
	watchLimited atomic.Bool   // the inotify watch limit was reached
	hooks        struct {      // for tests
		watcherCreated func() // Serve made its inotify instance
		serving        func() // Serve watches everything and caught up
		beforePass     func() // Serve is about to record settled paths
	}
}

// WatchLimited reports whether Serve hit the inotify watch limit (then it
// scans the upper periodically; raise fs.inotify.max_user_watches).
func (r *Real) WatchLimited() bool { return r.watchLimited.Load() }

// New returns a Real for the layers l, indexing into ix. remote may be nil
// (no lower content).
func New(l Layers, ix *index.Index, remote Remote, log *slog.Logger) *Real {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if remote == nil {
		remote = noRemote{}
	}
	return &Real{l: l, ix: ix, remote: remote, log: log, skipped: map[string]bool{},
		eventBuf: eventBuffer, scanEvery: DefaultScanEvery}
}

type noRemote struct{}

func (noRemote) Lookup(context.Context, string, string) (RemoteFile, bool, error) {
	return RemoteFile{}, false, nil
}

func (noRemote) Walk(context.Context, string, string, func(string, RemoteFile) error) error {
	return nil
}

// skipOnce logs that path is skipped, once per path.
func (r *Real) skipOnce(path, why string) {
	r.skipMu.Lock()
	seen := r.skipped[path]
	r.skipped[path] = true
	r.skipMu.Unlock()
	if !seen {
		r.log.Warn("skipping upper entry", "path", path, "reason", why)
	}
}
