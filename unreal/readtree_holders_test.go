package unreal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A file held by three peers whose trees come late (the handle hashes in
// order), then read far ahead through the same open file: the trees of
// alice (serving, and the late one) and bob fail, carol's comes. The
// seek's bytes are checked by carol's tree (the handle asks the other
// holders for theirs once the serving and the late peer's trees failed):
// alice's bad bytes there are failed over to bob's good ones, or, bad on
// every peer, the read is EIO. Before, the handle stopped checking when
// alice's and bob's trees failed, and served alice's bad bytes as valid.
func TestReadTreeLateTreeFromThirdHolder(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	off := int64(8*chunkSize + 12345)
	for _, tc := range []struct {
		name string
		bad  []string
	}{
		{name: "failover", bad: []string{"alice"}},
		{name: "only bad peers", bad: []string{"alice", "bob", "carol"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTreeFetcher(t, data)
			f.answer = corruptFrom(data, 8*chunkSize, tc.bad...)
			gate := make(chan struct{})
			var once sync.Once
			release := func() { once.Do(func() { close(gate) }) }
			t.Cleanup(release)
			f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err(), true
				}
				if peer != "carol" {
					return nil, errors.New("hashing the file took too long"), true
				}
				return nil, nil, false
			}
			c := newCache(t)
			for _, h := range []string{"alice", "bob", "carol"} {
				mustApply(t, c, h, linkData(1, "big.bin", data))
			}
			dir := mountWith(t, c, f, lateTreeOptions)
			fd := openDoc(t, dir, "big.bin")
			buf := make([]byte, 64<<10)
			if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
				t.Fatalf("pread at 0 (tree late): %d bytes, %v, or wrong bytes", n, err)
			}
			release()
			var err error
			select {
			case err = <-preadWithin(fd, buf, off):
			case <-time.After(20 * time.Second):
				t.Fatal("pread in chunk 8 still waiting after 20 s")
			}
			if len(tc.bad) == 3 {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("pread in chunk 8, corrupt on every peer, only carol's tree: %v; want EIO", err)
				}
				return
			}
			if err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
				t.Fatalf("pread in chunk 8, corrupt on alice, trees of alice and bob failed, carol's came: %v, or not good bytes", err)
			}
			for _, p := range []string{"alice", "bob", "carol"} {
				if n := f.trees(p); n != 1 {
					t.Fatalf("%s asked for her tree %d times by one open file, want 1", p, n)
				}
			}
		})
	}
}
