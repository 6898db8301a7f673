package unreal

import (
	"context"
	"sync/atomic"
	"time"
)

// progressKey carries a fetch's *progress in the Fetcher's context.
type progressKey struct{}

// progress is when bytes last arrived for one Fetcher call: the call's
// FetchTimeout is an idle bound that each arrival restarts.
type progress struct {
	start time.Time
	last  atomic.Int64 // nanoseconds after start of the latest arrival
}

// Progress tells the fetch that ctx belongs to that n more bytes of the
// chunk arrived. A Fetcher calls it as its bytes come in (the daemon's
// Fetcher does once per reply message, through rpc.WithProgress): every
// call with n > 0 restarts the call's Options.FetchTimeout, so a peer that
// sends steadily is never cut off, however long the chunk takes. A Fetcher
// that never calls it has FetchTimeout for the whole call. Progress is
// cheap, safe for concurrent use, and does nothing for a context that is
// not the Unreal's.
func Progress(ctx context.Context, n int) {
	if n <= 0 {
		return
	}
	if p, ok := ctx.Value(progressKey{}).(*progress); ok {
		p.last.Store(int64(time.Since(p.start)))
	}
}

// quiet is how long no bytes arrived.
func (p *progress) quiet() time.Duration {
	return time.Since(p.start) - time.Duration(p.last.Load())
}
