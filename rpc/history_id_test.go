package rpc

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/realsync/real/history"
)

// idHistory records the caller's history id of each call.
type idHistory struct {
	fullHistory
	idMu sync.Mutex
	ids  []string
}

func (h *idHistory) saw(ctx context.Context, op string) {
	h.idMu.Lock()
	defer h.idMu.Unlock()
	h.ids = append(h.ids, op+" "+CallerHistoryID(ctx))
}

func (h *idHistory) Arenas(ctx context.Context, peer string) ([]string, uint64, error) {
	h.saw(ctx, "arenas")
	return h.fullHistory.Arenas(ctx, peer)
}

func (h *idHistory) Notify(ctx context.Context, peer string, b []history.Entry) (uint64, error) {
	h.saw(ctx, "notify")
	return h.fullHistory.Notify(ctx, peer, b)
}

func (h *idHistory) Report(ctx context.Context, peer string, r Report) error {
	h.saw(ctx, "report")
	return h.fullHistory.Report(ctx, peer, r)
}

func TestHistoryIDTravels(t *testing.T) {
	h := &idHistory{fullHistory: fullHistory{fakeHistory: fakeHistory{arenas: []string{"docs"}, progress: 5}}}
	h.reply = PullReply{Through: 12, HistoryID: "00ff"}
	c, _ := fullFixture(t, h)
	ctx := ctxT(t)
	const id = "0123456789abcdef0123456789abcdef"

	// A client without an id sends none (an older peer).
	if _, err := c.Wants(ctx); err != nil {
		t.Fatal(err)
	}
	c.SetHistoryID(id)
	if _, err := c.Wants(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Notify(ctx, sampleBatch()); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(ctx, Report{Begin: true, End: true, Progress: 3}); err != nil {
		t.Fatal(err)
	}
	want := []string{"arenas ", "arenas " + id, "notify " + id, "report " + id}
	if got := strings.Join(h.ids, "|"); got != strings.Join(want, "|") {
		t.Errorf("ids seen by the server: %q, want %q", h.ids, want)
	}

	r, err := c.Pull(ctx, Pull{Arenas: []string{"docs"}, Progress: 3, HistoryID: "abc"})
	if err != nil || r.HistoryID != "00ff" {
		t.Fatalf("pull: %+v, %v; want the callee's history id", r, err)
	}
	if len(h.pulls) != 1 || h.pulls[0].HistoryID != "abc" {
		t.Fatalf("pulls received: %+v", h.pulls)
	}
}

func TestHistoryIDRefused(t *testing.T) {
	for _, bad := range []string{"ABCDEF", "xyz", "12 34", strings.Repeat("a", MaxHistoryID+1)} {
		if err := CheckHistoryID(bad); err == nil || !strings.Contains(err.Error(), "history id") {
			t.Errorf("CheckHistoryID(%q) = %v, want a refusal naming the history id", bad, err)
		}
	}
	if err := CheckHistoryID(""); err != nil {
		t.Errorf("empty id: %v", err)
	}
	h := &idHistory{fullHistory: fullHistory{fakeHistory: fakeHistory{arenas: []string{"docs"}}}}
	c, _ := fullFixture(t, h)
	c.SetHistoryID("NOT-HEX")
	_, err := c.Wants(ctxT(t))
	mustIs(t, err, ErrInvalid)
	if len(h.ids) != 0 {
		t.Errorf("the server saw calls %q from a client with a bad id", h.ids)
	}
	if _, err := c.Pull(ctxT(t), Pull{Arenas: []string{"docs"}, HistoryID: "Q"}); err == nil {
		t.Errorf("pull with a bad history id: no error")
	}
}
