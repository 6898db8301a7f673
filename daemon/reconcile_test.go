package daemon

import (
	"context"
	"sync"
	"testing"

	"github.com/realsync/real/history"
	"github.com/realsync/real/rpc"
)

// cancelOnFirst stands for the local side (real.Real): it records the
// context state each remote change meets and cancels the caller's call at
// the first one, as a sender killed (SIGKILL) or timing out mid-batch does.
type cancelOnFirst struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	seen   []error
}

func (c *cancelOnFirst) RemoteChanged(ctx context.Context, e history.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, ctx.Err())
	c.cancel()
	return nil
}

// Every entry of a batch that was applied is reconciled with the local side
// (metacopies, local versions, whiteouts under its paths), also when the
// sender gives up on the call in the middle of it: the entries are applied,
// so its retry skips them and nothing would bring those local
// modifications in line until the next start. Before, every change after
// the caller's cancellation failed with "context canceled".
func TestBatchReconciledWhenCallerGivesUp(t *testing.T) {
	_, cache, _, recv := openStore(t)
	batch := links("a", "b", "c")
	for i := range batch {
		batch[i].Index = uint64(i + 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	local := &cancelOnFirst{cancel: cancel}
	recv.local = local
	if _, err := recv.notify(ctx, "b", "", batch, rpc.Chain{}); err != nil {
		t.Fatal(err)
	}
	if p, err := cache.Progress(context.Background(), "b"); err != nil || p != 3 {
		t.Fatalf("progress after the batch: %d, %v", p, err)
	}
	if len(local.seen) != 3 {
		t.Fatalf("%d of the 3 applied entries reconciled", len(local.seen))
	}
	for i, err := range local.seen {
		if err != nil {
			t.Errorf("entry %d reconciled with a context already done: %v", i+1, err)
		}
	}
}
