package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/unreal"
)

var (
	historyA = strings.Repeat("a", 32)
	historyB = strings.Repeat("b", 32)
)

// startingOverPeer is a peer we pull from whose store starts over right
// after it served the first part of a full report: that part comes from
// history A, every later answer from history B, as a new store would give
// them (a report in progress goes on after the caller's cursor in the new
// store's files, standing for what the caller says it stands for).
type startingOverPeer struct {
	a, b []history.Entry // the files of each history, indexes 1…n

	mu     sync.Mutex
	served bool     // A's first part was served: the store is B's now
	pulls  []string // what each Pull asked
}

func (s *startingOverPeer) Arenas(context.Context, string) ([]string, uint64, error) {
	return nil, 0, errors.New("not called: pulled only")
}

func (s *startingOverPeer) Notify(context.Context, string, []history.Entry) (uint64, error) {
	return 0, errors.New("not called: pulled only")
}

func (s *startingOverPeer) Pull(ctx context.Context, _ string, p rpc.Pull) (rpc.PullReply, error) {
	s.mu.Lock()
	s.pulls = append(s.pulls, fmt.Sprintf("catch_up=%v report_after=%d report_progress=%d", p.CatchUp, p.ReportAfter, p.ReportProgress))
	first := !s.served
	s.served = true
	s.mu.Unlock()
	if first {
		return rpc.PullReply{HistoryID: historyA,
			Report: &rpc.Report{Begin: true, Entries: s.a[:2], Progress: uint64(len(s.a))}}, nil
	}
	if p.HistoryID != "" && p.HistoryID != historyB {
		p.CatchUp = true // as source.Pull
	}
	report := func(after uint64, begin bool, rp uint64) rpc.PullReply {
		var part []history.Entry
		for _, e := range s.b {
			if e.Index > after && len(part) < 2 {
				part = append(part, e)
			}
		}
		done := len(part) == 0 || part[len(part)-1].Index == s.b[len(s.b)-1].Index
		r := &rpc.Report{Begin: begin, Entries: part, End: done}
		if begin || done {
			r.Progress = rp
		}
		return rpc.PullReply{HistoryID: historyB, Report: r}
	}
	switch {
	case p.ReportProgress != 0:
		return report(p.ReportAfter, false, p.ReportProgress), nil
	case p.CatchUp || p.Progress == 0:
		return report(0, true, uint64(len(s.b))), nil
	}
	select { // nothing new
	case <-ctx.Done():
	case <-time.After(min(p.Wait, 100*time.Millisecond)):
	}
	return rpc.PullReply{HistoryID: historyB, Through: p.Progress}, nil
}

func (s *startingOverPeer) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pulls)
}

// indexed is links(names…) numbered from 1, with content of its own per history.
func indexed(hist string, names ...string) []history.Entry {
	es := links(names...)
	for i := range es {
		es[i].Index = uint64(i + 1)
		es[i].Blob = blob.Of([]byte(hist + "/" + es[i].Path))
	}
	return es
}

// A peer we pull from whose store starts over (real.db deleted, same key)
// between two parts of the full report we are taking: we must end with
// exactly its new store's files, not the old report's first part with the
// new store's rest.
func TestPulledReportStartsOverBetweenParts(t *testing.T) {
	ctx := context.Background()
	_, cache, _, recv := openStore(t)
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	peerKey, err := identity.Generate(filepath.Join(dir, "peer.key"))
	if err != nil {
		t.Fatal(err)
	}
	ourKey, err := identity.Generate(filepath.Join(dir, "our.key"))
	if err != nil {
		t.Fatal(err)
	}
	script := &startingOverPeer{
		a: indexed("A", "old-1", "old-2", "old-3", "old-4", "old-5"),
		b: indexed("B", "new-1", "new-2", "new-3", "new-4"),
	}
	srv, err := rpc.NewServer(rpc.ServerConfig{Listen: "127.0.0.1:0", Key: peerKey, History: script,
		Peers: []rpc.Peer{{Name: "us", Key: identity.Public(ourKey)}}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	client := rpc.NewClient(rpc.Peer{Name: "b", Key: identity.Public(peerKey), Address: srv.Addr().String()}, ourKey, log)
	pctx, pcancel := context.WithCancel(ctx)
	pulled := make(chan struct{})
	p := &puller{peer: recv.peer("b"), client: client, recv: recv, log: log}
	go func() { defer close(pulled); p.run(pctx) }()
	t.Cleanup(func() {
		pcancel()
		<-pulled
		client.Close()
		scancel()
		<-served
	})

	eventually(t, "the peer's report applied", func() error {
		if open, err := cache.CatchingUp(ctx, "b"); err != nil || open {
			return fmt.Errorf("catch-up open: %v, %v", open, err)
		}
		if got, err := cache.Progress(ctx, "b"); err != nil || got == 0 {
			return fmt.Errorf("progress of b: %d, %v", got, err)
		}
		// Recorded right after the report's end.
		if id, err := recv.peerHistory(ctx, "b"); err != nil || id == "" {
			return fmt.Errorf("history id of b: %q, %v", id, err)
		}
		return nil
	})
	got := map[string]blob.Hash{}
	if err := cache.Walk(ctx, "shared", "", func(path string, e unreal.Entry) error {
		got[path] = e.Blob
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]blob.Hash{}
	for _, e := range script.b {
		want[e.Path] = e.Blob
	}
	if !maps.Equal(got, want) {
		t.Errorf("files of the peer we show: %q,\nwant exactly its new store's %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		for n, b := range got {
			if w, ok := want[n]; ok && w != b {
				t.Errorf("%s: content of the old history", n)
			}
		}
	}
	if prog, err := cache.Progress(ctx, "b"); err != nil || prog != uint64(len(script.b)) {
		t.Errorf("progress of b: %d, %v; want %d, the new history's last index", prog, err, len(script.b))
	}
	if id, err := recv.peerHistory(ctx, "b"); err != nil || id != historyB {
		t.Errorf("our progress stands for history %q (%v), want the new one", id, err)
	}
	t.Logf("pulls: %q", script.asked())
}

// Pushed to us, a part of a report under another history id than its
// beginning is refused; the report can begin again and then applies.
func TestPushedReportPartOfAnotherHistoryRefused(t *testing.T) {
	ctx := context.Background()
	_, cache, _, recv := openStore(t)
	a, b := indexed("A", "old-1", "old-2", "old-3"), indexed("B", "new-1", "new-2")
	if err := recv.report(ctx, "b", historyA, rpc.Report{Begin: true, Entries: a[:2], Progress: 3}); err != nil {
		t.Fatal(err)
	}
	err := recv.report(ctx, "b", historyB, rpc.Report{Entries: b[1:], End: true, Progress: 3})
	if !errors.Is(err, rpc.ErrChanged) {
		t.Fatalf("a part under another history id: %v, want ErrChanged", err)
	}
	if open, err := recv.needsReport(ctx, "b"); err != nil || !open {
		t.Errorf("after the refusal, needs a report: %v, %v; want true", open, err)
	}
	if err := recv.report(ctx, "b", historyB, rpc.Report{Begin: true, Entries: b[:1], Progress: 2}); err != nil {
		t.Fatal(err)
	}
	if err := recv.report(ctx, "b", historyB, rpc.Report{Entries: b[1:], End: true, Progress: 2}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := cache.Walk(ctx, "shared", "", func(path string, e unreal.Entry) error {
		got = append(got, path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"new-1", "new-2"}) {
		t.Errorf("files of the peer we show: %q, want new-1, new-2", got)
	}
}
