package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/privtest"
)

// peer is one in-process daemon of a test household.
type peer struct {
	name, store, mount, addr string
	log                      *lockedWriter
	cancel                   context.CancelFunc
	done                     chan error
}

// household makes stores for names, pins every peer in every other, adds
// arena "shared", and starts them all. Cleanup stops them and checks that
// nothing is left mounted.
func household(t testing.TB, names ...string) map[string]*peer {
	t.Helper()
	return householdWith(t, nil, names...)
}

// householdWith is household with edit applied to every peer's config
// before it is saved (edit may be nil).
func householdWith(t testing.TB, edit func(*config.Config), names ...string) map[string]*peer {
	t.Helper()
	privtest.Require(t)
	top := t.TempDir()
	ps := map[string]*peer{}
	keys := map[string]string{}
	for _, n := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		p := &peer{name: n, store: filepath.Join(top, n, "store"), mount: filepath.Join(top, n, "mnt"), addr: addr}
		for _, d := range []string{"upper", "work", "lower"} {
			if err := os.MkdirAll(filepath.Join(p.store, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		priv, err := identity.Generate(filepath.Join(p.store, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = identity.Public(priv).String()
		ps[n] = p
	}
	for _, p := range ps {
		cfg := &config.Config{Name: p.name, Listen: p.addr, Arenas: []config.Arena{{Name: "shared"}}}
		for _, o := range ps {
			if o != p {
				cfg.Peers = append(cfg.Peers, config.Peer{Name: o.name, Address: o.addr, Key: keys[o.name]})
			}
		}
		if edit != nil {
			edit(cfg)
		}
		if err := cfg.Save(p.store); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		ps[n].start(t)
	}
	t.Cleanup(func() {
		for _, p := range ps {
			p.stop(t)
		}
		mounts, _ := os.ReadFile("/proc/self/mounts")
		if strings.Contains(string(mounts), top) {
			t.Errorf("mounts left under %s", top)
		}
		if dir := os.Getenv("REAL_TEST_LOGS"); dir != "" { // keep the peers' logs for a look
			for _, p := range ps {
				os.WriteFile(filepath.Join(dir, p.name+".log"), []byte(p.log.String()), 0o644)
			}
		}
		if t.Failed() {
			for _, p := range ps {
				t.Logf("log of %s:\n%s", p.name, p.log)
			}
		}
	})
	return ps
}

func (p *peer) start(t testing.TB) {
	t.Helper()
	p.log = &lockedWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan error, 1)
	ready := make(chan struct{})
	log := slog.New(slog.NewTextHandler(p.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		p.done <- Run(ctx, Options{Store: p.store, Mount: p.mount, Log: log, Ready: func(Ready) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("peer %s did not start: %v", p.name, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("peer %s not ready after 20 s", p.name)
	}
}

func (p *peer) stop(t testing.TB) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("peer %s stopped with %v", p.name, err)
		}
	case <-time.After(5 * time.Second):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("peer %s did not stop within 5 s; goroutines:\n%s", p.name, buf)
	}
}

func (p *peer) path(rel string) string { return filepath.Join(p.mount, "shared", rel) }

func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 15 s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameContent(path string, want []byte) func() error {
	return func() error {
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: %d bytes differ from the %d written", path, len(got), len(want))
		}
		return nil
	}
}

func gone(path string) func() error {
	return func() error {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still there (%v)", path, err)
		}
		return nil
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestThinPath: create, change and delete on A show on B; B's reads are
// A's bytes; a restart of A with changes made while it was down is caught up.
func TestThinPath(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]

	small, big := random(5000), random(3<<20)
	if err := os.MkdirAll(a.path("dir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.path("small.txt"), small, 0o644)
	os.WriteFile(a.path("dir/sub/big.bin"), big, 0o644)
	eventually(t, "small file on b", sameContent(b.path("small.txt"), small))
	eventually(t, "big file on b", sameContent(b.path("dir/sub/big.bin"), big))

	edited := []byte("now different, and shorter")
	os.WriteFile(a.path("small.txt"), edited, 0o644)
	eventually(t, "edit on b", sameContent(b.path("small.txt"), edited))

	os.Remove(a.path("dir/sub/big.bin"))
	eventually(t, "delete on b", gone(b.path("dir/sub/big.bin")))

	// Restart: change A's upper while it is down, as a crash would leave it.
	a.stop(t)
	up := filepath.Join(a.store, "upper", "shared")
	while := random(777)
	os.WriteFile(filepath.Join(up, "while-down.txt"), while, 0o644)
	os.Remove(filepath.Join(up, "small.txt"))
	a.start(t)
	eventually(t, "file made while down on b", sameContent(b.path("while-down.txt"), while))
	eventually(t, "file deleted while down gone on b", gone(b.path("small.txt")))

	// B keeps what it learned across its own restart.
	b.stop(t)
	b.start(t)
	eventually(t, "b after restart", sameContent(b.path("while-down.txt"), while))
	// And what B writes appears on A.
	fromB := random(1234)
	os.WriteFile(b.path("from-b"), fromB, 0o644)
	eventually(t, "b's file on a", sameContent(a.path("from-b"), fromB))
}

// lockedWriter serialises a daemon's log writes into a buffer that the
// test may read while the daemon still runs.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
