package unreal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/realsync/real/tree"
)

// errShort: a peer's content ended before the size it announced.
var errShort = errors.New("content shorter than announced")

// handle is an open file: the version served at open time. Every read of
// the handle reads that blob, so an open file never mixes two versions;
// a new version is seen by the next open (the kernel drops the page cache
// on open, and on NotifyContent).
type handle struct {
	s     *Server
	arena string
	path  string
	e     Entry
	peers []string // the serving peer first, then the others with the same blob
}

var _ fs.FileReader = (*handle)(nil)

// Open opens the served version for reading; any write access is EROFS.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	e, _, err := n.s.cache.fileInfo(ctx, n.full)
	if err != nil {
		return nil, 0, n.s.errno("open", n.full, err)
	}
	arena, rel, _ := tree.Split(n.s.cache.arenas, n.full)
	others, err := n.s.cache.peersOf(ctx, arena, rel, e.Blob)
	if err != nil {
		return nil, 0, n.s.errno("open", n.full, err)
	}
	peers := []string{e.Peer}
	for _, p := range others {
		if p != e.Peer {
			peers = append(peers, p)
		}
	}
	return &handle{s: n.s, arena: arena, path: rel, e: e, peers: peers}, 0, 0
}

// Read reads through the Fetcher, in chunks of up to 1 MiB, from the serving
// peer and, if that fails, from the other peers holding the same blob. If
// no peer delivers, the read fails with EIO: never stale or short bytes.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= h.e.Size {
		return fuse.ReadResultData(nil), 0
	}
	buf := dest[:min(int64(len(dest)), h.e.Size-off)]
	if err := h.read(ctx, buf, off); err != nil {
		return nil, h.s.errno("read", tree.Join(h.arena, h.path), err)
	}
	return fuse.ReadResultData(buf), 0
}

func (h *handle) read(ctx context.Context, buf []byte, off int64) error {
	var errs []error
	for _, peer := range h.peers {
		err := h.readFrom(ctx, peer, buf, off)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("from %s: %w", peer, err))
	}
	return fmt.Errorf("read %d bytes at %d of blob %s: %w", len(buf), off, h.e.Blob, errors.Join(errs...))
}

func (h *handle) readFrom(ctx context.Context, peer string, buf []byte, off int64) error {
	for done := 0; done < len(buf); {
		chunk := buf[done:min(len(buf), done+maxChunk)]
		n, err := h.s.fetch.ReadAt(ctx, peer, h.arena, h.path, h.e.Blob, chunk, off+int64(done))
		if n < 0 || n > len(chunk) {
			return fmt.Errorf("fetcher returned %d bytes for a %d-byte read", n, len(chunk))
		}
		done += n
		switch {
		case n == len(chunk):
			// complete (an io.EOF at the very end is fine)
		case errors.Is(err, io.EOF) || err == nil && n == 0:
			return fmt.Errorf("%w: ends at %d, size is %d", errShort, off+int64(done), h.e.Size)
		case err != nil:
			return err
		}
	}
	return nil
}
