package rpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/tree"
)

// Arenas asks the peer which arenas to report to it and the last index of
// our history it has applied.
func (c *Client) Arenas(ctx context.Context) ([]string, uint64, error) {
	if c.err != nil {
		return nil, 0, c.fail(ctx, "arenas", c.err)
	}
	res, err := c.history.Arenas(ctx, connect.NewRequest(&realv1.ArenasRequest{}))
	if err != nil {
		return nil, 0, c.fail(ctx, "arenas", err)
	}
	arenas := res.Msg.GetArenas()
	if err := tree.CheckArenas(arenas); err != nil {
		return nil, 0, c.fail(ctx, "arenas", fmt.Errorf("%w: reply: %w", ErrInvalid, err))
	}
	return arenas, res.Msg.GetProgress(), nil
}

// Notify sends a batch of our history (at most MaxBatch entries, indexes
// strictly increasing) and returns the peer's new progress. A batch the
// peer would refuse is refused here with ErrInvalid, before sending.
func (c *Client) Notify(ctx context.Context, batch []history.Entry) (uint64, error) {
	if c.err != nil {
		return 0, c.fail(ctx, "notify", c.err)
	}
	req, err := encodeBatch(batch, time.Now())
	if err != nil {
		return 0, c.fail(ctx, "notify", err)
	}
	res, err := c.history.Notify(ctx, connect.NewRequest(req))
	if err != nil {
		return 0, c.fail(ctx, "notify", err)
	}
	return res.Msg.GetProgress(), nil
}
