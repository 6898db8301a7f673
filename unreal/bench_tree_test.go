package unreal

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/realsync/real/history"
)

// Figures on large remote trees: 100k entries in one directory ("flat") and
// spread over 10×10 directories of 1000 ("tree"), and memory at 1M entries.

const bigTree = 100_000

func flatPath(i int) string { return fmt.Sprintf("flat/file%06d.txt", i) }
func treePath(i int) string {
	return fmt.Sprintf("tree/d%d/s%d/file%06d.txt", i%10, (i/10)%10, i)
}

// applyMany applies one Link per name(i), i < n, from peer alice, in batches
// of 5000, with content fmt.Sprint(i).
func applyMany(b *testing.B, c *Cache, n int, name func(int) string, first uint64) uint64 {
	b.Helper()
	batch := make([]history.Entry, 0, 5000)
	idx := first
	for i := range n {
		idx++
		batch = append(batch, link(idx, "docs", name(i), fmt.Sprint(i), t0))
		if len(batch) == cap(batch) || i == n-1 {
			mustApply(b, c, "alice", batch...)
			batch = batch[:0]
		}
	}
	return idx
}

// expire waits until the kernel's entry and attribute caches of the Unreal
// have expired, so the next look-ups reach the filesystem.
func expire(b *testing.B) {
	b.StopTimer()
	time.Sleep(timeout + 100*time.Millisecond)
	b.StartTimer()
}

// BenchmarkBigTree: lookup+getattr (lstat of every file) and readdir rates
// on 100k remote entries, in one directory and in a spread tree, through
// the Unreal mount with the kernel caches expired.
func BenchmarkBigTree(b *testing.B) {
	c := newCache(b)
	idx := applyMany(b, c, bigTree, flatPath, 0)
	applyMany(b, c, bigTree, treePath, idx)
	dir := filepath.Join(mountUnrealB(b, c), "docs")
	for _, layout := range []struct {
		name string
		path func(int) string
	}{{"flat", flatPath}, {"tree", treePath}} {
		b.Run("lstat/"+layout.name, func(b *testing.B) {
			for b.Loop() {
				expire(b)
				for i := range bigTree {
					if _, err := os.Lstat(filepath.Join(dir, layout.path(i))); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*bigTree)/b.Elapsed().Seconds(), "lstats/s")
		})
		b.Run("readdir/"+layout.name, func(b *testing.B) {
			for b.Loop() {
				expire(b)
				if n := countEntries(b, filepath.Join(dir, layout.name)); n < bigTree {
					b.Fatalf("listed %d entries, want at least %d", n, bigTree)
				}
			}
			b.ReportMetric(float64(b.N*bigTree)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// countEntries lists every directory under root (readdir only, no stat)
// and returns the number of names seen.
func countEntries(b *testing.B, root string) int {
	b.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkLsLR: `ls -lR` of the 100k tree through a merged view (overlay
// over the Unreal, as the daemon mounts it) against the same tree of
// ordinary files on ext4 under a plain overlay with the same options.
// "first" is the first listing after mounting, "again" a second one after
// the Unreal's kernel cache timeouts expired.
func BenchmarkLsLR(b *testing.B) {
	c := newCache(b)
	applyMany(b, c, bigTree, treePath, 0)
	merged := mountOverlay(b, mountUnrealB(b, c)).merged

	lower := filepath.Join(b.TempDir(), "plain")
	for i := range bigTree {
		p := filepath.Join(lower, "docs", treePath(i))
		if i%1000 == 0 || i < 100 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	plain := mountOverlay(b, lower).merged

	ls := func(b *testing.B, root string) time.Duration {
		cmd := exec.Command("ls", "-lR", filepath.Join(root, "docs", "tree"))
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("ls -lR %s: %v", root, err)
		}
		return time.Since(start)
	}
	for b.Loop() {
		b.StopTimer()
		mFirst, pFirst := ls(b, merged), ls(b, plain)
		time.Sleep(timeout + 100*time.Millisecond)
		mAgain, pAgain := ls(b, merged), ls(b, plain)
		b.StartTimer()
		b.ReportMetric(mFirst.Seconds(), "merged-first-s")
		b.ReportMetric(pFirst.Seconds(), "plain-first-s")
		b.ReportMetric(mAgain.Seconds(), "merged-again-s")
		b.ReportMetric(pAgain.Seconds(), "plain-again-s")
		b.ReportMetric(mFirst.Seconds()/pFirst.Seconds(), "ratio-first")
		b.ReportMetric(mAgain.Seconds()/pAgain.Seconds(), "ratio-again")
	}
}

// BenchmarkMemoryPerEntry: Go heap of the cache and the mount per entry at
// 1M entries (1000 directories of 1000 files), after a full walk with
// lstat through the mount (so go-fuse holds a node for every entry the
// kernel looked up). modernc SQLite lives in the Go heap, so its page cache
// is counted too.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		b.StopTimer()
		before := heap()
		c := newCache(b)
		applyMany(b, c, n, func(i int) string { return fmt.Sprintf("m/d%03d/f%07d", i%1000, i) }, 0)
		afterApply := heap()
		dir := mountUnrealB(b, c)
		seen := 0
		err := filepath.WalkDir(filepath.Join(dir, "docs", "m"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := os.Lstat(p); err != nil {
				return err
			}
			seen++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if seen < n {
			b.Fatalf("walk saw %d entries, want %d", seen, n)
		}
		afterWalk := heap()
		b.Logf("heap: %d B before, %d after applying %d entries, %d after the walk", before, afterApply, n, afterWalk)
		b.ReportMetric(float64(afterApply-before)/n, "B/entry-cache")
		b.ReportMetric(float64(afterWalk-before)/n, "B/entry-after-walk")
		var st os.FileInfo
		if st, err = os.Stat(dbFile(b, c)); err == nil {
			b.Logf("real.db: %d B", st.Size())
			b.ReportMetric(float64(st.Size())/n, "dbB/entry")
		}
		runtime.KeepAlive(c)
		b.StartTimer()
	}
}

// heap is the live Go heap after a full collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// file is the database file of a cache made by newCache.
func dbFile(b *testing.B, c *Cache) string {
	b.Helper()
	var seq int
	var name, file string
	if err := c.db.QueryRowContext(context.Background(), "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		b.Fatal(err)
	}
	return file
}
