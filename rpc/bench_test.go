package rpc

import (
	"bytes"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
)

// BenchmarkStoreRead measures ReadAt throughput over loopback TLS: each
// iteration reads a 256 MiB in-memory content in 4 MiB calls.
func BenchmarkStoreRead(b *testing.B) {
	f := newFixture(b)
	c := f.client(b)
	data := bytes.Repeat(randomBytes(1<<20), 256)
	f.store.files["big/content"] = data
	h := blob.Of(data)
	ctx := ctxT(b)
	buf := make([]byte, 4<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
			if _, err := c.ReadAt(ctx, "big", "content", h, buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkStoreReadSmall measures ReadAt of 4 KiB ranges (what a program
// reading a few bytes of a file costs): one call per operation, at spread
// offsets of a 64 MiB content; it reports calls/s.
func BenchmarkStoreReadSmall(b *testing.B) {
	f := newFixture(b)
	c := f.client(b)
	data := bytes.Repeat(randomBytes(1<<20), 64)
	f.store.files["big/content"] = data
	h := blob.Of(data)
	ctx := ctxT(b)
	buf := make([]byte, 4<<10)
	if _, err := c.ReadAt(ctx, "big", "content", h, buf, 0); err != nil { // connect first
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	off, n := int64(0), 0
	for b.Loop() {
		off = (off + 7<<20 + 4<<10) % int64(len(data)-len(buf))
		if _, err := c.ReadAt(ctx, "big", "content", h, buf, off); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkNotify measures Notify in batches of 1000 entries; it reports
// entries/s.
func BenchmarkNotify(b *testing.B) {
	f := newFixture(b)
	c := f.client(b)
	ctx := ctxT(b)
	const size = 1000
	batch := make([]history.Entry, size)
	for i := range batch {
		batch[i] = sampleBatch()[i%4]
	}
	next := uint64(1)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i].Index = next
			next++
		}
		if _, err := c.Notify(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += size
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}
