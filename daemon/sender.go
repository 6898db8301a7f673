package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/realsync/real/index"
	"github.com/realsync/real/rpc"
)

// BatchSize is how many history entries one Notify carries at most.
const BatchSize = 1000

// refresh is how often an idle sender asks the peer again which arenas it wants.
const refresh = 30 * time.Second

// sender sends this peer's history to one other peer: it asks which arenas
// the peer wants and from which index on (the receiver's stored progress is
// the truth, so a receiver that lost its state gets everything again), then
// sends batches as history grows. Failures back off exponentially with jitter.
type sender struct {
	peer   string
	client *rpc.Client
	ix     *index.Index
	log    *slog.Logger
}

func (s *sender) run(ctx context.Context) {
	const first = 100 * time.Millisecond
	backoff := first
	for ctx.Err() == nil {
		connected, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = first
		}
		if errors.Is(err, errRefresh) {
			continue
		}
		s.log.Info("peer not reachable; retrying", "err", err, "in", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// errRefresh ends an idle session so that the next one asks Arenas again.
var errRefresh = errors.New("refresh arenas")

// session sends until an error, a refresh or ctx is done. connected reports
// whether the peer answered at all.
func (s *sender) session(ctx context.Context) (connected bool, err error) {
	arenas, after, err := s.client.Arenas(ctx)
	if err != nil {
		return false, err
	}
	want := make(map[string]bool, len(arenas))
	for _, a := range arenas {
		want[a] = true
	}
	s.log.Debug("connected", "arenas", arenas, "resume_after", after)
	asked := time.Now()
	for {
		changed := s.ix.Changed()
		entries, err := s.ix.Since(ctx, after, BatchSize)
		if err != nil {
			return true, err
		}
		if len(entries) == 0 {
			if err := s.ix.SetAcked(ctx, s.peer, after); err != nil {
				return true, err
			}
			if time.Since(asked) > refresh {
				return true, errRefresh
			}
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case <-changed:
			case <-time.After(refresh):
			}
			continue
		}
		batch := entries[:0:0]
		for _, e := range entries {
			if want[e.Arena] {
				batch = append(batch, e)
			}
		}
		last := entries[len(entries)-1].Index
		if len(batch) > 0 {
			if _, err := s.client.Notify(ctx, batch); err != nil {
				return true, err
			}
			s.log.Debug("sent", "entries", len(batch), "through", last)
		}
		after = last
		if err := s.ix.SetAcked(ctx, s.peer, after); err != nil {
			return true, err
		}
	}
}
