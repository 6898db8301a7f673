package unreal

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirNode is a directory: the root, an arena (or a prefix of one), or a
// directory implied by the files below it. Everything is read from the
// Cache on each call; the node only knows its full path.
type dirNode struct {
	fs.Inode
	readOnly
	s    *Server
	full string
}

// fileNode is a file; its attributes are those of the served version.
type fileNode struct {
	fs.Inode
	readOnly
	s    *Server
	full string
}

var (
	_ fs.NodeLookuper   = (*dirNode)(nil)
	_ fs.NodeGetattrer  = (*dirNode)(nil)
	_ fs.NodeGetattrer  = (*fileNode)(nil)
	_ fs.NodeOpener     = (*fileNode)(nil)
	_ fs.NodeGetxattrer = (*fileNode)(nil)
)

// Lookup finds name in the directory: a directory wins over a file of the
// same name (two peers disagreeing whether the path is a file or a dir).
func (n *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	full := joinFull(n.full, name)
	n.s.absent.mark(full) // before reading: see absentSet
	found := false
	defer func() {
		if found {
			n.s.absent.found(full)
		}
	}()
	ni, err := n.s.cache.node(meta(ctx), full)
	if err != nil {
		if errors.Is(err, errNotFound) && n.s.gone.hit(full, time.Now()) {
			// The kernel asks again for a name we removed: an overlay
			// dentry may have kept it (it then answers ESTALE); evict.
			n.s.dropSoon()
		}
		return nil, n.s.errno("lookup", full, err)
	}
	found = true
	if ni.dir {
		n.s.dirAttr(&out.Attr, ni.ino, ni.mtime)
		return n.NewInode(ctx, &dirNode{s: n.s, full: full}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ni.ino}), 0
	}
	n.s.fileAttr(&out.Attr, ni.ino, ni.entry)
	return n.NewInode(ctx, &fileNode{s: n.s, full: full}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: ni.ino}), 0
}

func (n *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mt, ino, err := n.s.cache.dirInfo(meta(ctx), n.full)
	if err != nil {
		return n.s.errno("getattr", n.full, err)
	}
	n.s.dirAttr(&out.Attr, ino, mt)
	return 0
}

// Getattr answers the served version; on an open file whose path has gone
// meanwhile it answers the version that was opened.
//
// It cannot answer each open file its own version's size: Linux's FUSE
// sends the GETATTR of fstat without the caller's file handle (fuse_getattr
// passes no file; go-fuse hands fh = the inode's first open handle, which
// may be another descriptor's), and the size is the inode's, shared by every
// open. So after a remote change, fstat of a descriptor opened before it
// shows the new size while the descriptor reads the old version. Its reads
// are not affected: files are opened with FOPEN_DIRECT_IO (read.go), so the
// kernel does not clamp them to the inode's size, and the rest of a read
// through that descriptor is the opened version whole, in the Unreal and in
// the merged view (TestOpenFileReadsItsVersionAfterChange; without
// FOPEN_DIRECT_IO it read the old bytes cut to the new size). What is left:
// a program that trusts st_size of such a descriptor (mmap of st_size bytes,
// tail -c) sees the new size with the old bytes.
func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, ino, err := n.s.cache.fileInfo(meta(ctx), n.full)
	if errors.Is(err, errNotFound) {
		if h, ok := fh.(*handle); ok {
			n.s.fileAttr(&out.Attr, n.StableAttr().Ino, h.e)
			return 0
		}
	}
	if err != nil {
		return n.s.errno("getattr", n.full, err)
	}
	n.s.fileAttr(&out.Attr, ino, e)
	return 0
}
