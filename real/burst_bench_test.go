package real

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWatcherBurst10k: 10,000 files of 1 KiB written at once through
// a real overlay into one directory; the time until all are in the history.
func BenchmarkWatcherBurst10k(b *testing.B) {
	const n = 10000
	data := make([]byte, 1024)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		e := newEnv(b, "A")
		e.r.log = slog.New(slog.DiscardHandler)
		merged := e.mount()
		e.serve()
		dir := filepath.Join(merged, "A", fmt.Sprintf("burst%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for j := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", j)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		written := time.Since(start)
		for {
			last, err := e.ix.Last(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if last >= n {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("only %d of %d files indexed after 2 min", last, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "all-indexed-s")
		b.ReportMetric(written.Seconds(), "writing-s")
	}
}
