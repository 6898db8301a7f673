package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/tree"
)

// Tree serves the verified-chunk tree (blob.Outboard) of a content: opened
// through the Store as Read does (so the same refusals), hashed once and
// kept in the handler's treeCache.
func (h *storeHandler) Tree(ctx context.Context, req *connect.Request[realv1.TreeRequest]) (*connect.Response[realv1.TreeResponse], error) {
	peer := peerFrom(ctx)
	out, err := h.tree(ctx, peer, req.Msg)
	if err != nil {
		return nil, h.log.failed("tree", peer, err)
	}
	return connect.NewResponse(&realv1.TreeResponse{Outboard: out}), nil
}

func (h *storeHandler) tree(ctx context.Context, peer string, req *realv1.TreeRequest) ([]byte, error) {
	b, err := checkTree(req)
	if err != nil {
		return nil, err
	}
	name := req.GetArena() + "/" + req.GetPath()
	c, err := h.s.Open(ctx, peer, req.GetArena(), req.GetPath(), b)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	size := c.Size()
	if err := checkTreeSize(name, size); err != nil {
		c.Close()
		return nil, err
	}
	out, err := h.trees.compute(ctx, b, c, func(ctx context.Context, c Content) ([]byte, error) {
		return outboardOf(ctx, name, b, c, size)
	})
	if err != nil {
		return nil, err
	}
	// A cached tree is b's; the file opened as b must have its size.
	if got := int64(binary.LittleEndian.Uint64(out)); got != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, version %.12s has %d", ErrChanged, name, size, b.String(), got)
	}
	return out, nil
}

// outboardOf hashes size bytes of c into its tree; bytes that are not b
// (the file changed since it was announced) are ErrChanged.
func outboardOf(ctx context.Context, name string, b blob.Hash, c Content, size int64) ([]byte, error) {
	root, out, err := blob.Outboard(ctxReader{ctx, io.NewSectionReader(c, 0, size)}, size)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("tree of %s: %w", name, ctx.Err())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %s ended before its %d bytes", ErrChanged, name, size)
	case err != nil:
		return nil, fmt.Errorf("tree of %s: %w", name, err)
	case root != b:
		return nil, fmt.Errorf("%w: the bytes of %s hash to %.12s, not %.12s", ErrChanged, name, root.String(), b.String())
	}
	return out, nil
}

// checkTree validates a tree request (either side) and returns its blob.
func checkTree(req *realv1.TreeRequest) (blob.Hash, error) {
	if err := tree.CheckArena(req.GetArena()); err != nil {
		return blob.Hash{}, fmt.Errorf("%w: tree: %w", ErrInvalid, err)
	}
	if err := tree.CheckPath(req.GetPath()); err != nil {
		return blob.Hash{}, fmt.Errorf("%w: tree %s: %w", ErrInvalid, req.GetArena(), err)
	}
	b, err := blob.FromBytes(req.GetBlob())
	if err != nil {
		return b, fmt.Errorf("%w: tree %s/%s: %w", ErrInvalid, req.GetArena(), req.GetPath(), err)
	}
	if b.IsZero() {
		return b, fmt.Errorf("%w: tree %s/%s: no blob given", ErrInvalid, req.GetArena(), req.GetPath())
	}
	return b, nil
}

// checkTreeSize refuses a content whose tree would exceed MaxTree.
func checkTreeSize(name string, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: tree of %s: negative size %d", ErrInvalid, name, size)
	}
	if size > maxTreeContent {
		return fmt.Errorf("%w: the tree of %s (%d bytes) would exceed %d bytes: trees are served for files up to %d bytes", ErrTooLarge, name, size, MaxTree, int64(maxTreeContent))
	}
	return nil
}

// maxTreeContent is the largest content whose outboard fits MaxTree:
// (MaxTree-8)/64 inner nodes, one chunk more than that.
const maxTreeContent = ((MaxTree-8)/64 + 1) * int64(blob.TreeChunk)
