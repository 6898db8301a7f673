package rpc

import (
	"container/list"
	"testing"

	"github.com/realsync/real/blob"
)

// BenchmarkTree: the tree of 64 MiB in memory over loopback TLS, hashed
// (first request, "hash") or from the server's cache ("cached").
func BenchmarkTree(b *testing.B) {
	f := newFixture(b)
	c := f.client(b)
	ctx := ctxT(b)
	data := randomBytes(64 << 20)
	f.store.files["docs/a.bin"] = data
	v := blob.Of(data)
	b.Run("hash", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f.srv.trees.mu.Lock()
			f.srv.trees.byBlob = map[blob.Hash]*list.Element{}
			f.srv.trees.lru.Init()
			f.srv.trees.bytes = 0
			f.srv.trees.mu.Unlock()
			if _, err := c.Tree(ctx, "docs", "a.bin", v, int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Tree(ctx, "docs", "a.bin", v, int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
