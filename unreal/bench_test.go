package unreal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/history"
)

// fillCache applies n files (in batches of 1000) spread over 100 directories.
func fillCache(b *testing.B, c *Cache, n int) []string {
	b.Helper()
	var paths []string
	var batch []history.Entry
	for i := range n {
		p := fmt.Sprintf("d%02d/file%05d.txt", i%100, i)
		paths = append(paths, p)
		batch = append(batch, link(uint64(i+1), "docs", p, fmt.Sprint(i), t0))
		if len(batch) == 1000 || i == n-1 {
			mustApply(b, c, "alice", batch...)
			batch = batch[:0]
		}
	}
	return paths
}

// BenchmarkLookup: stat of 10k files, straight from the cache and through
// the FUSE mount (each iteration after the kernel caches expired, so every
// stat is a LOOKUP answered by the Unreal).
func BenchmarkLookup(b *testing.B) {
	c := newCache(b)
	paths := fillCache(b, c, 10000)
	b.Run("cache", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			for _, p := range paths {
				if _, ok, err := c.Lookup(ctx, "docs", p); err != nil || !ok {
					b.Fatal(p, ok, err)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(paths))/b.Elapsed().Seconds(), "stats/s")
	})
	b.Run("mount", func(b *testing.B) {
		dir := mountUnrealB(b, c)
		for b.Loop() {
			b.StopTimer()
			time.Sleep(timeout + 100*time.Millisecond) // let the kernel caches expire
			b.StartTimer()
			for _, p := range paths {
				if _, err := os.Stat(filepath.Join(dir, "docs", p)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(paths))/b.Elapsed().Seconds(), "stats/s")
	})
}

// BenchmarkApply: entries per second, in batches of 1000 new files.
func BenchmarkApply(b *testing.B) {
	c := newCache(b)
	ctx := context.Background()
	idx := uint64(0)
	batch := make([]history.Entry, 1000)
	for b.Loop() {
		for i := range batch {
			idx++
			batch[i] = link(idx, "docs", fmt.Sprintf("d%03d/f%07d", idx%500, idx), "x", t0)
		}
		if _, err := c.Apply(ctx, "alice", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "entries/s")
}
