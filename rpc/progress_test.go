package rpc

import (
	"bytes"
	"sync"
	"testing"

	"github.com/realsync/real/blob"
)

// ReadAt under WithProgress reports every reply message as it arrives: the
// reports add up to the bytes read, none is larger than a chunk.
func TestReadAtReportsProgress(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	data := randomBytes(1<<20 + 4321)
	f.store.files["docs/film.mkv"] = data
	var mu sync.Mutex
	var reports []int
	ctx := WithProgress(ctxT(t), func(n int) {
		mu.Lock()
		reports = append(reports, n)
		mu.Unlock()
	})
	got := make([]byte, len(data))
	n, err := c.ReadAt(ctx, "docs", "film.mkv", blob.Of(data), got, 0)
	if err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt = %d, %v; want the %d bytes", n, err, len(data))
	}
	mu.Lock()
	defer mu.Unlock()
	sum := 0
	for _, r := range reports {
		if r <= 0 || r > MaxChunk {
			t.Fatalf("reported %d bytes for one message (reports %v)", r, reports)
		}
		sum += r
	}
	if sum != len(data) || len(reports) < len(data)/MaxChunk {
		t.Fatalf("reports %v add up to %d in %d messages; want %d bytes in at least %d", reports, sum, len(reports), len(data), len(data)/MaxChunk)
	}
}
