package rpc

import (
	"context"
	"sync"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// chainHistory records the chain of each Notify and answers Arenas with one.
type chainHistory struct {
	fullHistory
	chainMu  sync.Mutex
	notified []Chain
	progress Chain
}

func (h *chainHistory) Notify(ctx context.Context, peer string, b []history.Entry) (uint64, error) {
	h.chainMu.Lock()
	h.notified = append(h.notified, CallerChain(ctx))
	h.chainMu.Unlock()
	return h.fullHistory.Notify(ctx, peer, b)
}

func (h *chainHistory) ProgressChain(context.Context, string) (Chain, error) { return h.progress, nil }

// A chain goes with Notify, a report's end, a Pull and its reply, and comes
// back with Arenas; none is none on the other side.
func TestChainTravels(t *testing.T) {
	c1 := Chain{Through: 7, Hash: blob.Of([]byte("one"))}
	c2 := Chain{Through: 12, Hash: blob.Of([]byte("two"))}
	h := &chainHistory{fullHistory: fullHistory{fakeHistory: fakeHistory{arenas: []string{"docs"}, progress: 5}}, progress: c1}
	h.reply = PullReply{Through: 12, Chain: c2}
	c, _ := fullFixture(t, h)
	ctx := ctxT(t)

	w, err := c.Wants(ctx)
	if err != nil || w.Chain != c1 {
		t.Fatalf("wants: %+v, %v; want chain %+v", w, err, c1)
	}
	if _, err := c.NotifyAt(ctx, sampleBatch(), c2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Notify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(h.notified) != 2 || h.notified[0] != c2 || !h.notified[1].IsZero() {
		t.Fatalf("chains seen by Notify: %+v; want %+v then none", h.notified, c2)
	}
	if err := c.Report(ctx, Report{Begin: true, End: true, Progress: 7, Chain: c1}); err != nil {
		t.Fatal(err)
	}
	if len(h.reports) != 1 || h.reports[0].Chain != c1 {
		t.Fatalf("reports: %+v; want chain %+v", h.reports, c1)
	}
	r, err := c.Pull(ctx, Pull{Arenas: []string{"docs"}, Progress: 7, Chain: c1})
	if err != nil || r.Chain != c2 {
		t.Fatalf("pull: %+v, %v; want chain %+v", r, err, c2)
	}
	if len(h.pulls) != 1 || h.pulls[0].Chain != c1 {
		t.Fatalf("pulls received: %+v", h.pulls)
	}

	// No progress: Arenas carries no chain.
	h.fakeHistory.progress = 0
	if w, err := c.Wants(ctx); err != nil || !w.Chain.IsZero() {
		t.Fatalf("wants at progress 0: %+v, %v; want no chain", w, err)
	}
}

func TestChainRefusedFromWire(t *testing.T) {
	_, err := chainFromWire(&realv1.Chain{Through: 3, Hash: []byte{1, 2, 3}})
	mustIs(t, err, ErrInvalid)
	if c, err := chainFromWire(&realv1.Chain{Through: 3}); err != nil || !c.IsZero() {
		t.Errorf("chain without a hash: %+v, %v; want none", c, err)
	}
}
