package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

// oldPeer is a receiver of before history ids: it checks none, and says
// its progress is whatever it was told to.
type oldPeer struct {
	mu       sync.Mutex
	progress uint64
	calls    []string // "notify 3-5", "report begin/end progress files"
	ids      []string // the history ids callers sent
	files    []string // of the last full report
}

func (o *oldPeer) Arenas(ctx context.Context, peer string) ([]string, uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ids = append(o.ids, rpc.CallerHistoryID(ctx))
	return []string{"shared"}, o.progress, nil
}

func (o *oldPeer) Notify(_ context.Context, peer string, batch []history.Entry) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf("notify %d-%d", batch[0].Index, batch[len(batch)-1].Index))
	o.progress = max(o.progress, batch[len(batch)-1].Index)
	return o.progress, nil
}

func (o *oldPeer) NeedsReport(context.Context, string) (bool, error) { return false, nil }

func (o *oldPeer) Report(_ context.Context, peer string, r rpc.Report) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Begin {
		o.files = nil
	}
	for _, e := range r.Entries {
		o.files = append(o.files, e.Path)
	}
	o.calls = append(o.calls, fmt.Sprintf("report begin=%v end=%v progress=%d files=%d", r.Begin, r.End, r.Progress, len(r.Entries)))
	if r.End {
		o.progress = r.Progress
	}
	return nil
}

func (o *oldPeer) state() (uint64, []string, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.progress, slices.Clone(o.calls), slices.Sorted(slices.Values(o.files))
}

// A receiver whose progress is above our last history index (our store
// started over, and it is a peer that knows nothing of history ids) gets a
// full report standing for our last index, and history after it then.
func TestProgressAboveOurHistoryFullReport(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	two := random(20)
	os.WriteFile(a.path("one"), random(10), 0o644)
	os.WriteFile(a.path("two"), two, 0o644)
	eventually(t, "two on b", sameContent(b.path("two"), two))
	b.stop(t)
	a.stop(t)

	// b's address now answers as an old peer at progress 5000.
	bKey, err := identity.Load(filepath.Join(b.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	aKey, err := identity.Load(filepath.Join(a.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	old := &oldPeer{progress: 5000}
	srv, err := rpc.NewServer(rpc.ServerConfig{Listen: b.addr, Key: bKey, History: old,
		Peers: []rpc.Peer{{Name: "a", Key: identity.Public(aKey)}}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	a.start(t)
	last := a.status(t).History
	if last == 0 || last >= 5000 {
		t.Fatalf("a's history ends at %d", last)
	}
	eventually(t, "a full report to the old peer", func() error {
		if p, calls, _ := old.state(); p != last {
			return fmt.Errorf("old peer at progress %d, want %d; calls %q", p, last, calls)
		}
		return nil
	})
	_, calls, files := old.state()
	want := fmt.Sprintf("report begin=true end=true progress=%d files=2", last)
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("calls to the old peer: %q, want [%q]", calls, want)
	}
	if !slices.Equal(files, []string{"one", "two"}) {
		t.Errorf("files reported: %q, want one, two", files)
	}

	// Later history comes as history, right after the report.
	os.WriteFile(a.path("three"), random(30), 0o644)
	eventually(t, "three sent", func() error {
		if p, calls, _ := old.state(); p <= last {
			return fmt.Errorf("old peer at progress %d; calls %q", p, calls)
		}
		return nil
	})
	_, calls, _ = old.state()
	if want := fmt.Sprintf("notify %d-%d", last+1, a.status(t).History); len(calls) < 2 || calls[1] != want {
		t.Errorf("calls to the old peer: %q, want %q second", calls, want)
	}
	old.mu.Lock()
	ids := slices.Clone(old.ids)
	old.mu.Unlock()
	if len(ids) == 0 || len(ids[0]) != 32 {
		t.Errorf("history ids a sent with Arenas: %q, want its 32-digit id", ids)
	}
}
