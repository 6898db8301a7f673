package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/rpc"
)

// What Arenas answers (the progress, then the chain it stands for, as the
// rpc handler asks them) is a consistent pair while batches are applied:
// a chain below the progress makes the sender send a full report (every
// file again), as when a session comes up while a Pull reply is applied.
func TestArenasChainNotBelowProgress(t *testing.T) {
	ctx := context.Background()
	_, _, _, recv := openStore(t)
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			b := links(fmt.Sprint("f", i))
			b[0].Index = uint64(i)
			c := rpc.Chain{Through: uint64(i), Hash: blob.Of([]byte(fmt.Sprint(i)))}
			if _, err := recv.notify(ctx, "b", "", b, c); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	bad := 0
	for done := false; !done; {
		_, p, err := recv.Arenas(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		c, err := recv.ProgressChain(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if p > 0 && c.Through < p {
			bad++
		}
		done = p == n
	}
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d times Arenas answered a progress and a chain below it", bad)
	}
}

// A batch's progress and its chain are two writes: when the second cannot
// be made after the first (a crash, a full disk, a call cancelled between
// them), the pair handed to the sender must still be one it resumes from
// (a chain at or above the progress), not one it takes for another
// history of its own (a full report after a mere crash). And a batch
// refused leaves the chain as it was.
func TestBatchChainNotBehindItsProgress(t *testing.T) {
	ctx := context.Background()
	_, _, _, recv := openStore(t)
	batch := links("a", "b", "c")
	for i := range batch {
		batch[i].Index = uint64(i + 1)
	}
	c2 := rpc.Chain{Through: 2, Hash: blob.Of([]byte("two"))}
	if _, err := recv.notify(ctx, "b", "", batch[:2], c2); err != nil {
		t.Fatal(err)
	}
	pair := func() (uint64, rpc.Chain) {
		t.Helper()
		_, p, err := recv.Arenas(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		c, err := recv.ProgressChain(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		return p, c
	}

	// The chain cannot be written (as if the process died right there).
	for _, q := range []string{
		`CREATE TRIGGER no_chain_insert BEFORE INSERT ON daemon_peer_chain BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
		`CREATE TRIGGER no_chain_update BEFORE UPDATE ON daemon_peer_chain BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
	} {
		if _, err := recv.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := recv.notify(ctx, "b", "", batch[2:], rpc.Chain{Through: 3, Hash: blob.Of([]byte("three"))}); err == nil {
		t.Fatal("notify with the chain not written: no error")
	}
	for _, q := range []string{`DROP TRIGGER no_chain_insert`, `DROP TRIGGER no_chain_update`} {
		if _, err := recv.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if p, c := pair(); c.Through < p {
		t.Errorf("after a batch whose chain could not be written: progress %d, chain %+v below it", p, c)
	}

	// A refused batch (an arena we do not have) leaves the chain alone.
	bad := links("x")
	bad[0].Index, bad[0].Arena = 9, "elsewhere"
	before, cb := pair()
	if _, err := recv.notify(ctx, "b", "", bad, rpc.Chain{Through: 9, Hash: blob.Of([]byte("nine"))}); err == nil {
		t.Fatal("a batch of an unknown arena: applied")
	}
	if p, c := pair(); p != before || c != cb {
		t.Errorf("after a refused batch: progress %d, chain %+v; want %d, %+v as before", p, c, before, cb)
	}
}
