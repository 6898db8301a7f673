package unreal

import (
	"context"
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

// listingTTL bounds how long a listing's attributes are answered, whatever
// the generation says: a directory kept open for long reads fresh ones.
const listingTTL = 30 * time.Second

type dirHandle struct {
	n *dirNode

	mu    sync.Mutex
	ents  []dirent // nil until first read
	read  bool     // ents was read (an empty dir has ents == nil)
	next  int      // index of the next entry Readdirent produces
	gen   uint64   // s.gen before the listing query
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
	return 0
}

// Readdirent produces the next name; its offset is its position + 1.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno := h.load(ctx); errno != 0 {
		return nil, errno
	}
	if h.next >= len(h.ents) {
		if h.next == 0 {
			// Empty: the reply stays at offset 0, so a rewinddir asks
			// again at the offset go-fuse already stands at and no
			// Seekdir(0) comes. List again on the next request.
			h.read = false
		}
		return nil, 0
	}
	d := &h.ents[h.next]
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
	h.next = int(min(off, uint64(len(h.ents))))
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
	if !h.read || h.next == 0 || h.next > len(h.ents) {
		return dirent{}, false
	}
	d := h.ents[h.next-1]
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
