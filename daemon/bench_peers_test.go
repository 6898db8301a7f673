package daemon

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/sqlitedb"
)

// BenchmarkReceiveNotify: a real daemon (b, its Unreal mounted) receiving
// Notify batches of BatchSize Link entries over TLS from a client holding
// a's key (a itself is stopped): applied entries per second, end to end
// (encode, TLS, validation, one SQLite transaction, the local side told,
// FUSE invalidation).
func BenchmarkReceiveNotify(b *testing.B) {
	h := household(b, "a", "b")
	a, bb := h["a"], h["b"]
	a.stop(b)
	c := clientAs(b, a, bb)
	ctx := context.Background()
	w, err := c.Wants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	next := w.Progress + 1
	content := blob.Of([]byte("benchmark"))
	mtime := time.Now().Add(-time.Hour)
	batch := make([]history.Entry, BatchSize)
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = history.Entry{Index: next, Kind: history.Link, Arena: "shared",
				Path: fmt.Sprintf("recv/%04d/f%04d", i, j), Mtime: mtime, Size: 9, Blob: content}
			next++
		}
		p, err := c.Notify(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if p != next-1 {
			b.Fatalf("progress %d after the batch, want %d", p, next-1)
		}
	}
	b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSendHistory: a holds n new entries in its history (files put
// in its upper while it was stopped, indexed by the catch-up at start);
// time from its start until b's progress reaches a's last index: history
// sent (and applied) per second.
func BenchmarkSendHistory(b *testing.B) {
	const n = 5000
	h := household(b, "a", "b")
	a, bb := h["a"], h["b"]
	db, err := sqlitedb.Open(filepath.Join(bb.store, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		a.stop(b)
		dir := filepath.Join(a.store, "upper", "shared", fmt.Sprintf("send-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", j)), []byte(fmt.Sprint("file ", j)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		a.start(b)
		b.StartTimer()
		start := time.Now()
		ctl := rpc.DialControl(filepath.Join(a.store, rpc.ControlName))
		st, err := ctl.Status(ctx)
		ctl.Close()
		if err != nil {
			b.Fatal(err)
		}
		for progress(b, db, "a") < st.History {
			if time.Since(start) > 120*time.Second {
				b.Fatalf("b's progress %d of a's %d after 120 s", progress(b, db, "a"), st.History)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}

// clientAs is an rpc client to to holding from's key.
func clientAs(t testing.TB, from, to *peer) *rpc.Client {
	t.Helper()
	key, err := identity.Load(filepath.Join(from.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	toKey, err := identity.Load(filepath.Join(to.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.NewClient(rpc.Peer{Name: to.name, Key: identity.Public(toKey), Address: to.addr}, key, nil)
	t.Cleanup(c.Close)
	return c
}

// progress reads the last index of peer's history applied by the store of db.
func progress(t testing.TB, db *sql.DB, peer string) uint64 {
	t.Helper()
	var last int64
	err := db.QueryRow(`SELECT coalesce((SELECT last FROM unreal_progress WHERE peer = ?), 0)`, peer).Scan(&last)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(last)
}
