package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/unreal"
)

// openStore opens a real.db in a temp dir with the tables of the index, the
// Unreal and the daemon, as run does.
func openStore(t *testing.T) (*index.Index, *unreal.Cache, *source, *receiver) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	cache, err := unreal.OpenCache(ctx, db, []string{"shared"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(ctx, db, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, "daemon", schema, "schema"); err != nil {
		t.Fatal(err)
	}
	peers := peerSet{"b": newPeerState("b", "")}
	return ix, cache, &source{ix: ix, db: db, peers: peers, log: log},
		&receiver{cache: cache, db: db, arenas: []string{"shared"}, peers: peers, log: log}
}

func links(names ...string) []history.Entry {
	var es []history.Entry
	for _, n := range names {
		es = append(es, history.Entry{Kind: history.Link, Arena: "shared", Path: n,
			Mtime: time.Unix(1700000000, 0), Size: int64(len(n)), Blob: blob.Of([]byte(n))})
	}
	return es
}

func commit(t *testing.T, ix *index.Index, es []history.Entry) {
	t.Helper()
	if _, err := ix.Commit(context.Background(), index.ChangeSet{Entries: es}); err != nil {
		t.Fatal(err)
	}
}

func chainAt(t *testing.T, s *source, x uint64) (blob.Hash, bool) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok, err := s.chainAt(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	return c, ok
}

// The sender's chain is the fold of its history, survives trimming, and
// tells a history restored and grown again from the one a peer followed.
func TestSourceChain(t *testing.T) {
	ctx := context.Background()
	ix, _, src, _ := openStore(t)
	commit(t, ix, links("a", "b", "c", "d", "e"))
	es, err := ix.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var want []blob.Hash // want[i]: chain at index i+1
	var c blob.Hash
	for i := range es {
		c = history.Chain(c, &es[i])
		want = append(want, c)
	}
	// Folded from the batches in hand (as a sender does), the same.
	ix3, _, src3, _ := openStore(t)
	commit(t, ix3, links("a", "b", "c", "d", "e"))
	for _, b := range [][2]int{{0, 2}, {2, 5}} {
		c, err := src3.chainOfBatch(ctx, uint64(b[0]), es[b[0]:b[1]])
		if err != nil || c.Through != uint64(b[1]) || c.Hash != want[b[1]-1] {
			t.Errorf("chain of the batch %d-%d: %+v, %v; want %s at %d", b[0]+1, b[1], c, err, want[b[1]-1], b[1])
		}
	}
	// Asked out of order: the rows filled lazily are the fold's.
	for _, x := range []uint64{3, 5, 1, 4, 2} {
		if got, ok := chainAt(t, src, x); !ok || got != want[x-1] {
			t.Errorf("chain at %d: %s %v, want %s", x, got, ok, want[x-1])
		}
	}
	if _, ok := chainAt(t, src, 6); ok {
		t.Error("chain at 6, past the history: found")
	}

	// Trimming keeps the chain at its trim point and the chains after it.
	if err := ix.SetAcked(ctx, "b", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := src.trim(ctx); err != nil {
		t.Fatal(err)
	}
	if tr, _ := src.trimmed(ctx); tr != 4 {
		t.Fatalf("trimmed through %d, want 4", tr)
	}
	for x := uint64(4); x <= 5; x++ {
		if got, ok := chainAt(t, src, x); !ok || got != want[x-1] {
			t.Errorf("after the trim, chain at %d: %s %v, want %s", x, got, ok, want[x-1])
		}
	}
	if _, ok := chainAt(t, src, 3); ok {
		t.Error("chain at 3, trimmed: found")
	}
	commit(t, ix, links("f"))
	es, _ = ix.Since(ctx, 5, 10)
	if got, _ := chainAt(t, src, 6); got != history.Chain(want[4], &es[0]) {
		t.Errorf("chain at 6, after the trim: %s, want the fold going on", got)
	}

	// Another store with the same first entries then others (a restore
	// from a backup taken at 3 that grew again).
	ix2, _, src2, _ := openStore(t)
	commit(t, ix2, links("a", "b", "c", "x", "y", "z"))
	if got, _ := chainAt(t, src2, 3); got != want[2] {
		t.Errorf("same first entries, chain at 3: %s, want %s", got, want[2])
	}
	if got, _ := chainAt(t, src2, 5); got == want[4] {
		t.Errorf("other entries 4-5, chain at 5 the same: %s", got)
	}
	other := func(progress uint64, c rpc.Chain) bool {
		src2.mu.RLock()
		defer src2.mu.RUnlock()
		o, err := src2.otherChain(ctx, "b", progress, c)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	own, _ := chainAt(t, src2, 5)
	for _, tc := range []struct {
		progress uint64
		chain    rpc.Chain
		want     bool
	}{
		{5, rpc.Chain{}, false},                         // none: not checked
		{5, rpc.Chain{Through: 5, Hash: own}, false},    // ours
		{3, rpc.Chain{Through: 5, Hash: own}, false},    // ours, past the progress (entries of other arenas)
		{5, rpc.Chain{Through: 5, Hash: want[4]}, true}, // the history before the restore
		{3, rpc.Chain{Through: 3, Hash: want[2]}, false},
		{5, rpc.Chain{Through: 4, Hash: own}, true}, // below its progress
		{5, rpc.Chain{Through: 7, Hash: own}, true}, // past our history
	} {
		if got := other(tc.progress, tc.chain); got != tc.want {
			t.Errorf("otherChain(progress %d, %+v) = %v, want %v", tc.progress, tc.chain, got, tc.want)
		}
	}
}

// The receiver keeps the chain that brought its progress there and hands
// it back; one below its progress is not kept, none forgets it.
func TestReceiverKeepsChain(t *testing.T) {
	ctx := context.Background()
	_, _, _, recv := openStore(t)
	batch := links("a", "b", "c")
	for i := range batch {
		batch[i].Index = uint64(i + 1)
	}
	progressChain := func() rpc.Chain {
		c, err := recv.ProgressChain(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := progressChain(); !c.IsZero() {
		t.Fatalf("chain before any batch: %+v", c)
	}
	c4 := rpc.Chain{Through: 4, Hash: blob.Of([]byte("four"))}
	if p, err := recv.notify(ctx, "b", "", batch[:2], c4); err != nil || p != 2 {
		t.Fatalf("notify: %d, %v", p, err)
	}
	if c := progressChain(); c != c4 {
		t.Fatalf("chain after a batch: %+v, want %+v", c, c4)
	}
	// A batch that crossed a later reply: progress 3, chain at 2 not kept.
	if _, err := recv.notify(ctx, "b", "", batch[2:], rpc.Chain{Through: 5, Hash: blob.Of([]byte("five"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := recv.notify(ctx, "b", "", batch[:2], rpc.Chain{Through: 2, Hash: blob.Of([]byte("two"))}); err != nil {
		t.Fatal(err)
	}
	if c := progressChain(); c.Through != 5 {
		t.Fatalf("chain after a stale batch: %+v, want the one through 5", c)
	}
	// A report's end brings its chain; a batch without one forgets it.
	c9 := rpc.Chain{Through: 9, Hash: blob.Of([]byte("nine"))}
	links9 := links("r")
	links9[0].Index = 9
	if err := recv.report(ctx, "b", "", rpc.Report{Begin: true, Entries: links9, End: true, Progress: 9, Chain: c9}); err != nil {
		t.Fatal(err)
	}
	if c := progressChain(); c != c9 {
		t.Fatalf("chain after a report: %+v, want %+v", c, c9)
	}
	batch10 := links("s")
	batch10[0].Index = 10
	if _, err := recv.notify(ctx, "b", "", batch10, rpc.Chain{}); err != nil {
		t.Fatal(err)
	}
	if c := progressChain(); !c.IsZero() {
		t.Fatalf("chain after a batch of an older peer: %+v, want none", c)
	}
}

// A history longer than one piece of chainAt's fold (the first use after an
// upgrade fills it all) gives the same values as folding it in one go.
func TestSourceChainLongHistory(t *testing.T) {
	ctx := context.Background()
	ix, _, src, _ := openStore(t)
	src.chainPiece = 100
	n := 2*src.chainPiece + 23
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("f%06d", i)
	}
	commit(t, ix, links(names...))
	es, err := ix.Since(ctx, 0, n+1)
	if err != nil || len(es) != n {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	want := make([]blob.Hash, n+1) // want[x]: chain at index x
	for i := range es {
		want[es[i].Index] = history.Chain(want[es[i].Index-1], &es[i])
	}
	for _, x := range []uint64{uint64(n), uint64(src.chainPiece), uint64(src.chainPiece) + 1, 7} {
		if got, ok := chainAt(t, src, x); !ok || got != want[x] {
			t.Errorf("chain at %d of %d: %s %v, want %s", x, n, got, ok, want[x])
		}
	}
}
