package rpc

import (
	"context"
	"fmt"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// Chain is a fingerprint of a position of a history (realv1.Chain): the
// chain value (history.Chain) of its entries up to Through. A sender sends
// it with each Notify batch (NotifyAt), with the end of a full report
// (Report.Chain) and with each Pull reply (PullReply.Chain); the receiver
// keeps it with its progress and hands it back with Arenas (Wants.Chain,
// from a History that is a Chainer) or with its next Pull (Pull.Chain).
// Before resuming after the receiver's progress, the sender compares it
// with its own chain value at Through: another value means its history is
// not the one the receiver followed (its store was restored from a backup
// and grew since), and it sends a full report. The zero Chain (Hash zero)
// is none: sent by peers that predate chains, not checked.
type Chain struct {
	Through uint64
	Hash    blob.Hash
}

// IsZero tells whether c is none.
func (c Chain) IsZero() bool { return c.Hash.IsZero() }

// Chainer is implemented by a History that keeps the senders' chains: its
// ProgressChain is sent with Arenas.
type Chainer interface {
	// ProgressChain returns the chain the calling peer's progress stands
	// for (zero: none recorded).
	ProgressChain(ctx context.Context, peer string) (Chain, error)
}

func chainToWire(c Chain) *realv1.Chain {
	if c.IsZero() {
		return nil
	}
	return &realv1.Chain{Through: c.Through, Hash: c.Hash.Bytes()}
}

// chainFromWire decodes a chain: absent or with an empty hash is none.
func chainFromWire(w *realv1.Chain) (Chain, error) {
	h, err := blob.FromBytes(w.GetHash())
	if err != nil {
		return Chain{}, fmt.Errorf("%w: chain: %w", ErrInvalid, err)
	}
	if h.IsZero() {
		return Chain{}, nil
	}
	return Chain{Through: w.GetThrough(), Hash: h}, nil
}

type chainKey struct{}

// CallerChain returns, in a History's Notify, the chain the calling peer
// sent with the batch (zero: none).
func CallerChain(ctx context.Context) Chain {
	c, _ := ctx.Value(chainKey{}).(Chain)
	return c
}
