package rpc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// Tree fetches the verified-chunk tree (blob.Outboard) of arena/path at
// version b, size bytes long, from the peer, and checks its shape
// (blob.CheckOutboard): a reply that cannot be the tree of size bytes is an
// error wrapping ErrInvalid and blob.ErrBadOutboard. Whether its nodes are
// right shows in blob.VerifyChunk. Errors as for ReadAt: ErrChanged (the
// file there is no longer b, or its bytes do not hash to b), ErrNotFound,
// ErrUnknownArena, ErrInvalid, ErrUnavailable; a content whose tree would
// exceed MaxTree is ErrTooLarge (refused here, without a call, when size
// says so). The call is unary: bound it with ctx (the peer may have to
// hash the whole file first).
func (c *Client) Tree(ctx context.Context, arena, path string, b blob.Hash, size int64) ([]byte, error) {
	op := "tree " + arena + "/" + path
	if c.err != nil {
		return nil, c.fail(ctx, op, c.err)
	}
	req := &realv1.TreeRequest{Arena: arena, Path: path, Blob: b.Bytes()}
	if _, err := checkTree(req); err != nil {
		return nil, c.fail(ctx, op, err)
	}
	if err := checkTreeSize(arena+"/"+path, size); err != nil {
		return nil, c.fail(ctx, op, err)
	}
	resp, err := c.trees.Tree(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, c.fail(ctx, op, err)
	}
	out := resp.Msg.GetOutboard()
	if err := blob.CheckOutboard(out, size); err != nil {
		return nil, c.fail(ctx, op, fmt.Errorf("%w: reply: %w", ErrInvalid, err))
	}
	return out, nil
}
