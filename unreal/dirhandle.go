package unreal

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// An open directory. The kernel reads directories with READDIRPLUS, which
// wants, with every name, what a LOOKUP of it answers; go-fuse asks the
// handle (fs.FileLookuper) for each name right after the handle produced
// it. The handle answers from its listing, taken with one query per kind
// (Cache.list) when the directory is first read, instead of one query per
// name (BenchmarkLsLR: one database look-up per name was most of the cost).
//
// A listing's attributes are answered only while they are known to be
// current: the listing remembers the mount's change generation, which
// every committed change bumps (Server.invalidate, after the commit and
// before the kernel is notified) and which is read before the listing
// query. When it moved, or the listing is older than listingTTL, the name
// is looked up in the database as any LOOKUP. So an attribute from a
// listing is never older than the state at the start of the READDIRPLUS
// request that carries it: the kernel's own ordering of replies against
// our invalidations (attr_version) then applies as it does to a LOOKUP.
//
// The listing lives as long as the open directory (freed on releasedir),
// ~64 bytes plus the name per entry; rewinddir (a seek to 0) lists again.
//
// A listing starts with "." and ".." (offsets 1 and 2; the names follow
// from offset 3), as on ext4: go-fuse's fs bridge adds neither, and
// overlayfs passes a lower-only directory's listing through, so without
// them `ls -a` in a remote-only directory of the merged view showed none
// (TestListingHasDotEntries). "." has the directory's own inode, ".."
// its parent's (the root's is the root's). READDIRPLUS does not look them
// up (go-fuse skips them, the kernel ignores their attributes), and a
// LOOKUP of "." or ".." never reaches the nodes (the kernel resolves them,
// and go-fuse answers the rare one the kernel sends itself).

// listingTTL bounds how long a listing's attributes are answered, whatever
// the generation says: a directory kept open for long reads fresh ones.
const listingTTL = 30 * time.Second

type dirHandle struct {
	n *dirNode

	mu    sync.Mutex
	ents  []dirent  // nil until first read
	read  bool      // ents was read (an empty dir has ents == nil)
	next  int       // position of the next entry Readdirent produces: 0 ".", 1 "..", 2+i ents[i]
	dots  [2]uint64 // inodes of "." and "..", set by load
	gen   uint64    // s.gen before the listing query
	taken time.Time
}

var (
	_ fs.NodeOpendirHandler = (*dirNode)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
)

// OpendirHandle opens the directory; it is listed on the first read.
func (n *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{n: n}, 0, 0
}

// load lists the directory if that was not done yet. Called with h.mu held.
func (h *dirHandle) load(ctx context.Context) syscall.Errno {
	if h.read {
		return 0
	}
	gen := h.n.s.gen.Load() // before the query: see the type's comment
	ents, err := h.n.s.cache.list(meta(ctx), h.n.full)
	if err != nil {
		return h.n.s.errno("readdir", h.n.full, err)
	}
	h.ents, h.read, h.next, h.gen, h.taken = ents, true, 0, gen, time.Now()
	h.dots = [2]uint64{h.n.StableAttr().Ino, h.parentIno(ctx)}
	return 0
}

// parentIno is the inode of the directory's parent: the one go-fuse holds,
// else the one the database knows (a node the kernel keeps after its
// parent's entry was dropped); the root's parent is the root.
func (h *dirHandle) parentIno(ctx context.Context) uint64 {
	if h.n.full == "" {
		return h.n.StableAttr().Ino
	}
	if _, p := h.n.Parent(); p != nil {
		return p.StableAttr().Ino
	}
	parent := ""
	if i := strings.LastIndexByte(h.n.full, '/'); i >= 0 {
		parent = h.n.full[:i]
	}
	if _, ino, err := h.n.s.cache.dirInfo(meta(ctx), parent); err == nil {
		return ino
	}
	return h.n.StableAttr().Ino // gone meanwhile: nothing better to say
}

// Readdirent produces the next name; its offset is its position + 1.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno := h.load(ctx); errno != 0 {
		return nil, errno
	}
	if h.next < len(h.dots) {
		name := [2]string{".", ".."}[h.next]
		de := &fuse.DirEntry{Name: name, Ino: h.dots[h.next], Mode: syscall.S_IFDIR, Off: uint64(h.next + 1)}
		h.next++
		return de, 0
	}
	// Even an empty directory's reply moves past offset 0 (the dots), so
	// a rewinddir comes as a Seekdir(0), which lists again.
	if h.next >= len(h.dots)+len(h.ents) {
		return nil, 0
	}
	d := &h.ents[h.next-len(h.dots)]
	h.next++
	de := &fuse.DirEntry{Name: d.name, Ino: d.ino, Mode: syscall.S_IFREG, Off: uint64(h.next)}
	if d.dir {
		de.Mode = syscall.S_IFDIR
	}
	return de, 0
}

// Seekdir moves to offset off (as produced by Readdirent); 0 (rewinddir)
// lists the directory again.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 {
		h.ents, h.read = nil, false
	}
	if errno := h.load(ctx); errno != 0 {
		return errno
	}
	// An offset past the end (a telldir from before a rewind re-listed a
	// shrunken directory) is the end, as on ext4: readdir then ends
	// rather than failing.
	h.next = int(min(off, uint64(len(h.dots)+len(h.ents))))
	return 0
}

// Lookup answers READDIRPLUS's lookup of name, the name Readdirent just
// produced: from the listing while it is current, else from the database.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	h.mu.Lock()
	d, ok := h.current(name)
	h.mu.Unlock()
	n := h.n
	if !ok {
		return n.Lookup(ctx, name, out)
	}
	full := joinFull(n.full, name)
	if d.dir {
		n.s.dirAttr(&out.Attr, d.ino, time.Unix(0, d.mtime))
		return n.NewInode(ctx, &dirNode{s: n.s, full: full}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: d.ino}), 0
	}
	n.s.fileAttr(&out.Attr, d.ino, Entry{Size: d.size, Mtime: time.Unix(0, d.mtime)})
	return n.NewInode(ctx, &fileNode{s: n.s, full: full}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: d.ino}), 0
}

// current returns the listing's entry for name, the one last produced, if
// the listing may still answer for it. Called with h.mu held.
func (h *dirHandle) current(name string) (dirent, bool) {
	i := h.next - 1 - len(h.dots)
	if !h.read || i < 0 || i >= len(h.ents) {
		return dirent{}, false
	}
	d := h.ents[i]
	if d.name != name || h.n.s.gen.Load() != h.gen || time.Since(h.taken) > listingTTL {
		return dirent{}, false
	}
	return d, true
}

// Releasedir frees the listing.
func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ents, h.read = nil, false
}
