package unreal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/realsync/real/blob"
	"golang.org/x/sys/unix"
)

// Fetcher reads file content from a peer: the RPC to that peer's
// StoreService. ReadAt follows io.ReaderAt: it fills p with the content of
// blob b (the version of arena/path the peer reported) at off, and returns
// n < len(p) only together with an error (io.EOF at the end of the content).
// It should honour ctx, and call Progress(ctx, n) as bytes arrive: the
// Unreal gives up on a call after Options.FetchTimeout without any.
type Fetcher interface {
	ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error)
}

// TreeFetcher is a Fetcher that can also fetch a content's verified-chunk
// tree (blob.Outboard of its bytes: Bao's outboard with 4 MiB groups) from
// a peer, so that every chunk of a file larger than one chunk can be
// checked against its blob on its own (blob.VerifyChunk), in any order.
// A peer that cannot give one (an older peer, a file too large) answers an
// error; the file is then checked by hashing it in order as it is read.
type TreeFetcher interface {
	Fetcher
	Tree(ctx context.Context, peer, arena, path string, b blob.Hash, size int64) ([]byte, error)
}

// timeout is the kernel entry and attribute cache timeout. It bounds how
// long a stale entry can survive if an explicit invalidation was lost; the
// invalidations after Apply (invalidate.go) are what make changes visible.
const timeout = time.Second

// chunkSize is the unit of fetching: every Fetcher.ReadAt call reads one
// aligned chunk (the last one of a file is shorter). 4 MiB: fewer, larger
// calls (BenchmarkSequentialRead: 1 MiB chunks reached half the raw rate).
const chunkSize = 4 << 20

// Options tune a mount; zero fields take the defaults.
type Options struct {
	// FetchTimeout bounds the silence of each Fetcher call (default 15 s):
	// a peer that does not answer, or stops sending, for that long counts
	// as failed and the next peer with the blob is asked. It is an idle
	// bound, not one on the whole call: each arrival of bytes the Fetcher
	// reports with Progress restarts it, so a slow but steady peer may
	// take as long as it needs for a chunk (there is no whole-call
	// ceiling). A Fetcher that never calls Progress gets FetchTimeout for
	// the whole call. A read fails with EIO after every peer holding the
	// blob failed: when none answers, within peers × FetchTimeout (plus
	// any wait for a fetch slot, which is not counted).
	FetchTimeout time.Duration
	// ReadAhead is how far beyond a forward read chunks are fetched
	// (default 16 MiB, rounded down to whole chunks).
	ReadAhead int64
	// MaxFetches bounds the chunk fetches (Fetcher.ReadAt calls) in flight
	// for the whole mount (default 16). Tree calls take no slot: one per
	// open file and peer, each a small reply (see readtree.go).
	MaxFetches int
	// TreeWait is how long the first chunk of a file read from its start
	// waits for the peer's verified-chunk tree (TreeFetcher) before the
	// file is hashed in order instead (default 1 s); the late tree still
	// checks the chunks the in-order hashing will not see (readtree.go).
	// Other chunks can only be checked by the tree and wait for it up to
	// FetchTimeout.
	TreeWait time.Duration
}

// maxRead is the largest kernel read (max_read) and the kernel's read-ahead.
const maxRead = 1 << 20

func (o Options) withDefaults() Options {
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 15 * time.Second
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = 16 << 20
	}
	if o.MaxFetches <= 0 {
		o.MaxFetches = 16
	}
	if o.TreeWait <= 0 {
		o.TreeWait = time.Second
	}
	return o
}

// Server is a mounted Unreal.
type Server struct {
	cache *Cache
	fetch Fetcher
	log   *slog.Logger
	dir   string
	root  *dirNode
	fuse  *fuse.Server
	opts  Options
	// fetches holds one token per chunk fetch in flight (MaxFetches).
	fetches chan struct{}
	uid     uint32
	gid     uint32
	dev     uint64 // the mount's device: names its FUSE connection

	statMu     sync.Mutex // the counts statfs reports, and when they were taken
	statAt     time.Time
	statFiles  uint64
	statBlocks uint64

	absent   absentSet    // names a Lookup answered as absent
	dropMu   sync.Mutex   // serialises dropDentries
	redrop   atomic.Bool  // a delayed second drop is pending
	lastHeal atomic.Int64 // unix ns of the last delayed drop (see dropSoon)
	gone     goneSet      // names removed lately: a lookup of one may come from a stale overlay dentry

	// gen counts committed changes (bumped by invalidate): a directory
	// listing answers lookups only while it has not moved (dirhandle.go).
	gen atomic.Uint64
}

// Mount mounts the Unreal over c at dir, read-only, with go-fuse DirectMount
// (no fusermount), and returns once the mount is up. File data is read
// through f. Files and directories belong to the user running the process.
func Mount(dir string, c *Cache, f Fetcher, log *slog.Logger) (*Server, error) {
	return MountWith(dir, c, f, Options{}, log)
}

// MountWith is Mount with options.
func MountWith(dir string, c *Cache, f Fetcher, opts Options, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Server{cache: c, fetch: f, log: log, dir: dir, opts: opts, fetches: make(chan struct{}, opts.MaxFetches),
		uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	s.root = &dirNode{s: s, full: ""}
	t := timeout
	fopts := &fs.Options{
		EntryTimeout: &t,
		AttrTimeout:  &t,
		// NegativeTimeout stays nil: a failed lookup is not cached by
		// the FUSE kernel module, so a name that appears is found at once.
		RootStableAttr: &fs.StableAttr{Ino: 1},
		UID:            s.uid,
		GID:            s.gid,
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true,
			DirectMountFlags:  syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV,
			FsName:            "real-unreal",
			Name:              "real",
			AllowOther:        os.Getuid() == 0,
			Options:           []string{"default_permissions"},
			MaxWrite:          maxRead, // also max_read: reads of up to 1 MiB
			MaxReadAhead:      maxRead,
			// Our reads answer bytes, not file descriptors: splicing them
			// gains nothing, and a 1 MiB read does not fit the default
			// 1 MiB pipe with its header, so go-fuse would log
			// "trySplice: ... max pipe size" on every such read.
			DisableSplice:     true,
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP, // mmap of FOPEN_DIRECT_IO files (see Open)
		},
	}
	srv, err := fs.Mount(dir, s.root, fopts)
	if err != nil {
		return nil, fmt.Errorf("mount unreal at %s: %w", dir, err)
	}
	s.fuse = srv
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		srv.Unmount()
		return nil, fmt.Errorf("mount unreal at %s: %w", dir, err)
	}
	s.dev = st.Dev
	c.attach(s)
	log.Info("unreal mounted", "dir", dir)
	return s, nil
}

// unmountGrace is how long Unmount waits for the kernel to end the FUSE
// connection after the unmount before it aborts the connection.
const unmountGrace = 2 * time.Second

// Unmount unmounts the filesystem and waits for its server loop to end. It
// fails (and stays mounted) while something is mounted on top, e.g. the overlay.
//
// The kernel ends the connection only when the superblock goes. A mount
// namespace created while we were mounted (on a host whose / is private,
// as in a container) keeps a copy of the mount that our unmount does not
// reach, and with it the superblock: then, after unmountGrace, Unmount
// aborts the connection through the fusectl filesystem (which it mounts at
// /sys/fs/fuse/connections if needed), so the daemon can still stop. Those
// copies then answer ENOTCONN.
func (s *Server) Unmount() error {
	done := make(chan error, 1)
	go func() { done <- s.fuse.Unmount() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(unmountGrace):
		s.log.Warn("unreal: the kernel keeps the FUSE connection after the unmount (a copy of the mount lives in another mount namespace); aborting it", "dir", s.dir)
		if aerr := abortConnection(s.dev); aerr != nil {
			return fmt.Errorf("unmount unreal at %s: %w", s.dir, aerr)
		}
		err = <-done
	}
	if err != nil {
		return fmt.Errorf("unmount unreal at %s: %w", s.dir, err)
	}
	s.cache.detach(s)
	s.fuse.Wait()
	s.log.Info("unreal unmounted", "dir", s.dir)
	return nil
}

// fusectlDir is where the fusectl filesystem lists FUSE connections.
const fusectlDir = "/sys/fs/fuse/connections"

// abortConnection aborts the FUSE connection of the superblock dev.
func abortConnection(dev uint64) error {
	abort := filepath.Join(fusectlDir, strconv.FormatUint(uint64(unix.Minor(dev)), 10), "abort")
	if _, err := os.Stat(abort); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount fusectl at %s to abort the connection: %w", fusectlDir, err)
		}
	}
	if err := os.WriteFile(abort, []byte("1"), 0o200); err != nil {
		return fmt.Errorf("abort FUSE connection: %w", err)
	}
	return nil
}

// errno turns an error into the FUSE answer, once, at the boundary.
func (s *Server) errno(op, full string, err error) syscall.Errno {
	switch {
	case errors.Is(err, errNotFound):
		return syscall.ENOENT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	s.log.Warn("unreal: "+op+" failed", "path", full, "err", err)
	return syscall.EIO
}

func (s *Server) dirAttr(a *fuse.Attr, ino uint64, mt time.Time) {
	a.Ino = ino
	a.Mode = syscall.S_IFDIR | 0o755
	a.Nlink = 1 // "unknown": tools must not derive a subdirectory count
	a.Size = 4096
	a.Blocks = 8
	s.common(a, mt)
}

func (s *Server) fileAttr(a *fuse.Attr, ino uint64, e Entry) {
	a.Ino = ino
	a.Mode = syscall.S_IFREG | 0o644
	a.Nlink = 1
	a.Size = uint64(e.Size)
	a.Blocks = (uint64(e.Size) + 511) / 512
	s.common(a, e.Mtime)
	// Tools size their reads by st_blksize (cat and cp: at least 128 KiB,
	// more when st_blksize says so): ask for the largest kernel read, each
	// of which is one FUSE round trip (files are FOPEN_DIRECT_IO).
	a.Blksize = maxRead
}

func (s *Server) common(a *fuse.Attr, mt time.Time) {
	a.SetTimes(&mt, &mt, &mt)
	a.Uid = s.uid
	a.Gid = s.gid
	a.Blksize = 4096
}

// meta is the context of a metadata query (lookup, getattr, readdir, open,
// xattrs, statfs): it ignores the kernel's interrupt. Such a query takes
// microseconds, and the kernel interrupts a FUSE request whenever the
// calling thread gets a signal (a Go program gets SIGURG all the time), so
// honouring it would only turn open or stat into a spurious EINTR, which
// most programs (and unix.Open) do not retry. Reads, which can wait on a
// peer, keep the interruptible context.
func meta(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
