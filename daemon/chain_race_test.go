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
