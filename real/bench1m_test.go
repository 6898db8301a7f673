package real

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/privtest"
)

// benchFiles is the tree size of BenchmarkCatchUp1M; REAL_BENCH_FILES
// overrides it (a smaller tree for profiling).
func benchFiles(b *testing.B) int {
	if s := os.Getenv("REAL_BENCH_FILES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("REAL_BENCH_FILES=%q: want a number >= 1000", s)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkCatchUp1M: an upper of 1M small files in 1,000 dirs, indexed
// once (not timed). Then, timed: a catch-up where nothing changed (ns/file
// and the ratio to `find UPPER -printf '%s %T@\n'` on the same tree),
// the process's memory after it (Go heap in use and RSS, bytes/file), and
// a catch-up after 1% of the files were rewritten (changed-s).
// Run with -benchtime 1x: setup alone takes minutes.
func BenchmarkCatchUp1M(b *testing.B) {
	privtest.Require(b)
	n := benchFiles(b)
	const perDir = 1000
	dir := b.TempDir()
	e := &env{dir: dir, upper: filepath.Join(dir, "upper"), lower: filepath.Join(dir, "lower"), dbFile: filepath.Join(dir, "real.db")}
	for d := 0; d*perDir < n; d++ {
		dd := filepath.Join(e.upper, "A", fmt.Sprintf("d%04d", d))
		if err := os.MkdirAll(dd, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := d * perDir; i < n && i < (d+1)*perDir; i++ {
			if err := os.WriteFile(filepath.Join(dd, fmt.Sprintf("f%07d", i)), []byte(strconv.Itoa(i)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(e.lower, "A"), 0o755); err != nil {
		b.Fatal(err)
	}
	e.remote = newDirRemote(e.lower)
	r, closeDB := benchReal(b, e)
	defer closeDB()
	ctx := b.Context()
	start := time.Now()
	if err := r.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	firstIndex := time.Since(start)
	hashed := r.hashed

	// The unchanged catch-up alone (-cpuprofile would mix in the setup).
	stopProfile := profileTo(b, "REAL_BENCH_CPUPROFILE")
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		if err := r.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stopProfile()
	perFile := float64(time.Since(start).Nanoseconds()) / float64(b.N) / float64(n)
	if r.hashed != hashed {
		b.Fatalf("unchanged catch-up hashed %d files", r.hashed-hashed)
	}
	b.ReportMetric(firstIndex.Seconds(), "first-index-s") // after ResetTimer, which drops metrics
	b.ReportMetric(perFile, "ns/file")
	b.ReportMetric(perFile/findPerFile(b, e.upper, n), "x-find")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/float64(n), "heap-B/file")
	b.ReportMetric(float64(rss(b))/float64(n), "rss-B/file")

	// 1% of the files rewritten (new content, so hashed and recorded).
	changed := n / 100
	for i := 0; i < changed; i++ {
		j := i * 100
		p := filepath.Join(e.upper, "A", fmt.Sprintf("d%04d", j/perDir), fmt.Sprintf("f%07d", j))
		if err := os.WriteFile(p, []byte("changed "+strconv.Itoa(j)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	last, err := r.ix.Last(ctx)
	if err != nil {
		b.Fatal(err)
	}
	stopProfile = profileTo(b, "REAL_BENCH_CPUPROFILE_CHANGED") // the 1%-changed catch-up alone
	start = time.Now()
	if err := r.CatchUp(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "changed-s")
	stopProfile()
	now, err := r.ix.Last(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if got := int(now - last); got != changed {
		b.Fatalf("1%% changed: %d entries, want %d", got, changed)
	}
}

// profileTo starts a CPU profile into the file named by the environment
// variable env, if set, and returns what stops it (a no-op otherwise).
func profileTo(b *testing.B, env string) (stop func()) {
	f := os.Getenv(env)
	if f == "" {
		return func() {}
	}
	out, err := os.Create(f)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); out.Close() }
}

// findPerFile times `find UPPER -printf '%s %T@\n'` on the tree (warm,
// best of 3), per file.
func findPerFile(b *testing.B, upper string, n int) float64 {
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		out, err := exec.Command("find", upper, "-printf", "%s %T@\n").Output()
		if err != nil || bytes.Count(out, []byte("\n")) < n {
			b.Fatalf("find: %v (%d lines)", err, bytes.Count(out, []byte("\n")))
		}
		best = min(best, time.Since(start))
	}
	return float64(best.Nanoseconds()) / float64(n)
}

// rss is the process's resident set size in bytes (VmRSS).
func rss(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
