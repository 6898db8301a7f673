package daemon

import (
	"fmt"
	"io"
	"os"
	"sort"
	"testing"
	"time"
)

// BenchmarkWriteToVisible: time from a write on A until B's merged view
// shows the file, over 100 files written one after the other.
func BenchmarkWriteToVisible(b *testing.B) {
	h := household(b, "a", "b")
	a, bb := h["a"], h["b"]
	data := random(1024)
	for i := 0; b.Loop(); i++ {
		var lat []time.Duration
		for j := range 100 {
			name := fmt.Sprintf("lat-%d-%d", i, j)
			start := time.Now()
			if err := os.WriteFile(a.path(name), data, 0o644); err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := os.Stat(bb.path(name)); err == nil {
					break
				}
				if time.Since(start) > 10*time.Second {
					b.Fatalf("%s not visible on b after 10 s", name)
				}
				time.Sleep(time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(lat[49].Seconds(), "p50-s")
		b.ReportMetric(lat[98].Seconds(), "p99-s")
	}
}

// BenchmarkBurst10k: 10,000 files of 1 KiB created at once on A, time until
// B's merged view lists them all.
func BenchmarkBurst10k(b *testing.B) {
	h := household(b, "a", "b")
	a, bb := h["a"], h["b"]
	data := random(1024)
	for i := 0; b.Loop(); i++ {
		dir := fmt.Sprintf("burst-%d", i)
		start := time.Now()
		if err := os.Mkdir(a.path(dir), 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 10000 {
			if err := os.WriteFile(a.path(fmt.Sprintf("%s/f%05d", dir, j)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		written := time.Since(start)
		// Wait until the last file shows, then until the listing has them
		// all (stat of a missing name leaves a negative dentry that the
		// Unreal must drop when the name appears: one name, not 10,000).
		last := bb.path(fmt.Sprintf("%s/f%05d", dir, 9999))
		for {
			if _, err := os.Stat(last); err == nil {
				break
			}
			if time.Since(start) > 120*time.Second {
				b.Fatalf("%s not visible on b after 120 s", last)
			}
			time.Sleep(5 * time.Millisecond)
		}
		for {
			ents, err := os.ReadDir(bb.path(dir))
			if err == nil && len(ents) == 10000 {
				break
			}
			if time.Since(start) > 120*time.Second {
				b.Fatalf("b lists %d files (%v), want 10000", len(ents), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "all-visible-s")
		b.ReportMetric(written.Seconds(), "writing-s")
	}
}

// BenchmarkRemoteRead256MiB: sequential read on B of a 256 MiB file that A holds.
func BenchmarkRemoteRead256MiB(b *testing.B) {
	h := household(b, "a", "b")
	a, bb := h["a"], h["b"]
	const size = 256 << 20
	data := random(size)
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("big-%d", i)
		if err := os.WriteFile(a.path(name), data, 0o644); err != nil {
			b.Fatal(err)
		}
		eventually(b, "big file on b", func() error {
			fi, err := os.Stat(bb.path(name))
			if err == nil && fi.Size() != size {
				err = fmt.Errorf("size %d", fi.Size())
			}
			return err
		})
		b.StartTimer()
		f, err := os.Open(bb.path(name))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
		f.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
