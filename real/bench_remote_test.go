package real

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/privtest"
)

// BenchmarkRemoteChangeUnderRenamedDir: a peer's edit of one file in a
// remote dir of n files that was renamed here (the merged view shows it at
// the new path, so this peer records Link there): the cost of one
// RemoteChanged, by the size of the renamed dir.
func BenchmarkRemoteChangeUnderRenamedDir(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) { benchRemoteChangeUnderRenamedDir(b, n) })
	}
}

func benchRemoteChangeUnderRenamedDir(b *testing.B, n int) {
	privtest.Require(b)
	e := newEnv(b, "A")
	for i := range n {
		write(b, filepath.Join(e.lower, "A", "dir", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%05d", i)), "remote")
	}
	merged := e.mount()
	must(b, os.Rename(filepath.Join(merged, "A", "dir"), filepath.Join(merged, "A", "moved")))
	e.catchUp()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := fmt.Sprintf("dir/d%02d/f%05d", i%n%20, i%n)
		full := filepath.Join(e.lower, "A", filepath.FromSlash(p))
		data := fmt.Sprintf("edit %d", i)
		old, _, err := blob.File(full)
		must(b, err)
		write(b, full, data)
		mt := time.Now().Add(-time.Hour).Truncate(time.Second)
		must(b, os.Chtimes(full, mt, mt))
		must(b, e.r.RemoteChanged(ctx, history.Entry{Kind: history.Link, Arena: "A", Path: p,
			Mtime: mt, Size: int64(len(data)), Blob: blob.Of([]byte(data)), PrevBlob: old}))
	}
	b.StopTimer()
	es := e.newEntries()
	if len(es) == 0 || es[len(es)-1].Path[:len("moved/")] != "moved/" {
		b.Fatalf("the edits were not recorded at the new path: %v", es[max(0, len(es)-3):])
	}
}
