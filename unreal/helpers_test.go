package unreal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/privtest"
	"github.com/realsync/real/sqlitedb"
	"golang.org/x/sys/unix"
)

// testLog logs to the test output at debug level, so a failing test shows
// what the filesystem did.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// openDB opens a fresh real.db in a temporary directory.
func openDB(t testing.TB, file string) *Cache {
	t.Helper()
	return openCacheAt(t, file, []string{"docs", "media/photos"})
}

func openCacheAt(t testing.TB, file string, arenas []string) *Cache {
	t.Helper()
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := OpenCache(context.Background(), db, arenas, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCache(t testing.TB) *Cache {
	t.Helper()
	return openDB(t, filepath.Join(t.TempDir(), "real.db"))
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func link(idx uint64, arena, path, content string, mtime time.Time) history.Entry {
	return history.Entry{Index: idx, Kind: history.Link, Arena: arena, Path: path, Mtime: mtime,
		Size: int64(len(content)), Blob: blob.Of([]byte(content))}
}

func unlink(idx uint64, arena, path string, mtime time.Time) history.Entry {
	return history.Entry{Index: idx, Kind: history.Unlink, Arena: arena, Path: path, Mtime: mtime}
}

func mustApply(t testing.TB, c *Cache, peer string, batch ...history.Entry) uint64 {
	t.Helper()
	p, err := c.Apply(context.Background(), peer, batch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// memFetcher stands in for the StoreService RPC: content by blob, the same
// for every peer, unless the peer is marked failing.
type memFetcher struct {
	mu      sync.Mutex
	content map[blob.Hash][]byte
	failing map[string]bool
	reads   int
}

func newFetcher(contents ...string) *memFetcher {
	f := &memFetcher{content: make(map[blob.Hash][]byte), failing: make(map[string]bool)}
	for _, s := range contents {
		f.add(s)
	}
	return f
}

func (f *memFetcher) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content[blob.Of([]byte(s))] = []byte(s)
}

func (f *memFetcher) fail(peer string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing[peer] = on
}

var errFetch = errors.New("peer unreachable")

func (f *memFetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.failing[peer] {
		return 0, fmt.Errorf("read %s/%s from %s: %w", arena, path, peer, errFetch)
	}
	data, ok := f.content[b]
	if !ok {
		return 0, fmt.Errorf("read %s/%s from %s: no blob %s", arena, path, peer, b)
	}
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// mountUnreal mounts c in a temporary directory, unmounted at cleanup.
func mountUnreal(t *testing.T, c *Cache, f Fetcher) string {
	t.Helper()
	return mountUnrealTB(t, c, f, testLog(t))
}

// mountUnrealB mounts c for a benchmark (quiet: no per-lookup logging).
func mountUnrealB(b *testing.B, c *Cache) string {
	b.Helper()
	return mountUnrealTB(b, c, newFetcher(), nil)
}

func mountUnrealTB(t testing.TB, c *Cache, f Fetcher, log *slog.Logger) string {
	t.Helper()
	return mountUnrealOpts(t, c, f, Options{}, log)
}

func mountUnrealOpts(t testing.TB, c *Cache, f Fetcher, opts Options, log *slog.Logger) string {
	t.Helper()
	privtest.Require(t)
	dir := filepath.Join(t.TempDir(), "lower")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := MountWith(dir, c, f, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Unmount(); err != nil {
			t.Errorf("unmount unreal: %v", err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// overlay is a real overlayfs over a lower directory, as the daemon mounts it.
type overlay struct {
	merged, upper string
}

// mountOverlay mounts overlayfs with lower as lower layer, with the options
// the daemon uses, in a temporary directory; unmounted at cleanup (before
// the lower, cleanups run last-in first-out).
func mountOverlay(t testing.TB, lower string) overlay {
	t.Helper()
	privtest.Require(t)
	base := t.TempDir()
	o := overlay{merged: filepath.Join(base, "merged"), upper: filepath.Join(base, "upper")}
	work := filepath.Join(base, "work")
	for _, d := range []string{o.merged, o.upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,metacopy=on,redirect_dir=on", lower, o.upper, work)
	if err := unix.Mount("overlay", o.merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(o.merged, 0); err != nil {
			t.Errorf("unmount overlay: %v", err)
			unix.Unmount(o.merged, unix.MNT_DETACH)
		}
	})
	return o
}

// eventually retries check until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
