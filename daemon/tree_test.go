package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

// The Unreal's fetcher gets the verified-chunk tree of a file from the
// daemon that has it: served from its upper through its store service, every
// chunk verifies; a file changed since is refused as changed.
func TestFetcherTree(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	data := random(2*blob.TreeChunk + 777)
	if err := os.WriteFile(a.path("big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "big.bin on b", sameContent(b.path("big.bin"), data))

	aKey, err := identity.Load(filepath.Join(a.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	bKey, err := identity.Load(filepath.Join(b.store, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.NewClient(rpc.Peer{Name: "a", Key: identity.Public(aKey), Address: a.addr}, bKey, nil)
	defer c.Close()
	f := fetcher{clients: map[string]*rpc.Client{"a": c}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	v := blob.Of(data)
	out, err := f.Tree(ctx, "a", "shared", "big.bin", v, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += blob.TreeChunk {
		if !blob.VerifyChunk(v, out, int64(off), data[off:min(off+blob.TreeChunk, len(data))]) {
			t.Fatalf("chunk at %d does not verify", off)
		}
	}
	if _, err := f.Tree(ctx, "c", "shared", "big.bin", v, int64(len(data))); !errors.Is(err, rpc.ErrUnavailable) {
		t.Errorf("tree from a peer without a client: %v, want ErrUnavailable", err)
	}
	if err := os.WriteFile(a.path("big.bin"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old version refused", func() error {
		_, err := f.Tree(ctx, "a", "shared", "big.bin", v, int64(len(data)))
		if !errors.Is(err, rpc.ErrChanged) {
			return errors.New("not refused as changed: " + errString(err))
		}
		return nil
	})
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
