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
	res, err := c.history.Arenas(ctx, connect.NewRequest(&realv1.ArenasRequest{HistoryId: c.historyID}))
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
	return c.NotifyAt(ctx, batch, Chain{})
}

// NotifyAt is Notify with the fingerprint of our history through the
// batch's end (see Chain).
func (c *Client) NotifyAt(ctx context.Context, batch []history.Entry, chain Chain) (uint64, error) {
	if c.err != nil {
		return 0, c.fail(ctx, "notify", c.err)
	}
	req, err := encodeBatch(batch, time.Now())
	if err != nil {
		return 0, c.fail(ctx, "notify", err)
	}
	req.HistoryId = c.historyID
	req.Chain = chainToWire(chain)
	res, err := c.history.Notify(ctx, connect.NewRequest(req))
	if err != nil {
		return 0, c.fail(ctx, "notify", err)
	}
	return res.Msg.GetProgress(), nil
}

// Wants asks the peer what to report to it: Arenas, and whether it needs a
// full report first.
func (c *Client) Wants(ctx context.Context) (Wants, error) {
	if c.err != nil {
		return Wants{}, c.fail(ctx, "arenas", c.err)
	}
	res, err := c.history.Arenas(ctx, connect.NewRequest(&realv1.ArenasRequest{HistoryId: c.historyID}))
	if err != nil {
		return Wants{}, c.fail(ctx, "arenas", err)
	}
	arenas := res.Msg.GetArenas()
	if err := tree.CheckArenas(arenas); err != nil {
		return Wants{}, c.fail(ctx, "arenas", fmt.Errorf("%w: reply: %w", ErrInvalid, err))
	}
	chain, err := chainFromWire(res.Msg.GetChain())
	if err != nil {
		return Wants{}, c.fail(ctx, "arenas", fmt.Errorf("reply: %w", err))
	}
	return Wants{Arenas: arenas, Progress: res.Msg.GetProgress(), CatchUp: res.Msg.GetCatchUp(), Chain: chain}, nil
}

// Report sends one part of a full report; a part the peer would refuse is
// refused here with ErrInvalid, before sending.
func (c *Client) Report(ctx context.Context, r Report) error {
	if c.err != nil {
		return c.fail(ctx, "report", c.err)
	}
	req, err := encodeReport(&r, time.Now())
	if err != nil {
		return c.fail(ctx, "report", err)
	}
	req.HistoryId = c.historyID
	if _, err := c.history.Report(ctx, connect.NewRequest(req)); err != nil {
		return c.fail(ctx, "report", err)
	}
	return nil
}

// Pull asks the peer for its history; the reply is validated.
func (c *Client) Pull(ctx context.Context, p Pull) (PullReply, error) {
	if c.err != nil {
		return PullReply{}, c.fail(ctx, "pull", c.err)
	}
	req, err := encodePull(&p)
	if err != nil {
		return PullReply{}, c.fail(ctx, "pull", err)
	}
	res, err := c.history.Pull(ctx, connect.NewRequest(req))
	if err != nil {
		return PullReply{}, c.fail(ctx, "pull", err)
	}
	r, err := decodePullReply(res.Msg, time.Now())
	if err != nil {
		return PullReply{}, c.fail(ctx, "pull", err)
	}
	return r, nil
}
