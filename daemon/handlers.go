package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/realsync/real/blob"
	real "github.com/realsync/real/real"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/unreal"
)

// historyHandler serves HistoryService: the receiving side (Arenas,
// Notify, Report) and the sending side for callers we cannot call (Pull).
type historyHandler struct {
	*receiver
	*source
}

// storeHandler serves this peer's local files of the arenas it shares
// (own) to the others.
type storeHandler struct {
	loc *real.Real
	own map[string]bool
}

func (s storeHandler) Open(ctx context.Context, peer, arena, path string, b blob.Hash) (rpc.Content, error) {
	if !s.own[arena] { // its files may still be in the upper and the index
		return nil, fmt.Errorf("%w: %s is not an arena this peer shares", rpc.ErrUnknownArena, arena)
	}
	f, err := s.loc.Open(arena, path, b)
	switch {
	case errors.Is(err, real.ErrNotFound):
		return nil, fmt.Errorf("%w: %v", rpc.ErrNotFound, err)
	case errors.Is(err, real.ErrChanged):
		return nil, fmt.Errorf("%w: %v", rpc.ErrChanged, err)
	case err != nil:
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return content{f, fi.Size()}, nil
}

type content struct {
	*os.File
	size int64
}

func (c content) Size() int64 { return c.size }

// fetcher routes the Unreal's reads to the client of the peer serving the
// version: its own client, or for a peer without an address the one over
// the reverse connection it opened (rpc.Server.ReverseClient).
type fetcher struct{ clients map[string]*rpc.Client }

func (f fetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	c, ok := f.clients[peer]
	if !ok {
		return 0, fmt.Errorf("%w: peer %s has no address to read from, and we have none for it to connect to", rpc.ErrUnavailable, peer)
	}
	// Each reply message restarts the Unreal's FetchTimeout (an idle
	// bound), so a slow but steady peer is not cut off mid-chunk.
	fctx := ctx
	ctx = rpc.WithProgress(ctx, func(n int) { unreal.Progress(fctx, n) })
	return c.ReadAt(ctx, arena, path, b, p, off)
}

// treeTimeout bounds a Tree call (unary: no progress to report). The peer
// may have to hash the whole file first; if that takes longer, it keeps
// hashing and a later call finds the tree in its cache, while the Unreal
// checks this read by hashing in order.
const treeTimeout = 2 * time.Minute

// Tree fetches the verified-chunk tree of version b of arena/path (size
// bytes) from the peer serving it.
func (f fetcher) Tree(ctx context.Context, peer, arena, path string, b blob.Hash, size int64) ([]byte, error) {
	c, ok := f.clients[peer]
	if !ok {
		return nil, fmt.Errorf("%w: peer %s has no address to fetch a tree from, and we have none for it to connect to", rpc.ErrUnavailable, peer)
	}
	ctx, cancel := context.WithTimeout(ctx, treeTimeout)
	defer cancel()
	return c.Tree(ctx, arena, path, b, size)
}

var (
	_ unreal.TreeFetcher = fetcher{}
	_ rpc.Store          = storeHandler{}
)

// remote shows the Unreal cache to the decoder as the lower layer's content.
type remote struct{ cache *unreal.Cache }

func (r remote) Lookup(ctx context.Context, arena, path string) (real.RemoteFile, bool, error) {
	e, ok, err := r.cache.Lookup(ctx, arena, path)
	return real.RemoteFile{Size: e.Size, Mtime: e.Mtime, Blob: e.Blob}, ok, err
}

func (r remote) Walk(ctx context.Context, arena, dir string, fn func(string, real.RemoteFile) error) error {
	return r.cache.Walk(ctx, arena, dir, func(p string, e unreal.Entry) error {
		return fn(p, real.RemoteFile{Size: e.Size, Mtime: e.Mtime, Blob: e.Blob})
	})
}
