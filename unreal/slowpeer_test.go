package unreal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

// Tests of the FetchTimeout as an idle bound, against real rpc.Servers on
// 127.0.0.1 read through real rpc.Clients, with the daemon's adapter
// (rpcPeers): each reply message restarts the bound.

// pacedContent serves data one rpc chunk per ReadAt call (the server reads
// MaxChunk bytes per message), after wait(call number) returns.
type pacedContent struct {
	data []byte
	wait func(call int)
	mu   sync.Mutex
	n    int
}

func (c *pacedContent) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.n++
	call := c.n
	c.mu.Unlock()
	c.wait(call)
	return memContent{bytes.NewReader(c.data)}.ReadAt(p, off)
}

func (c *pacedContent) Close() error { return nil }
func (c *pacedContent) Size() int64  { return int64(len(c.data)) }

// pacedStore serves data through a new pacedContent per Open.
type pacedStore struct {
	data  []byte
	wait  func(call int)
	mu    sync.Mutex
	opens int
}

func (s *pacedStore) Open(ctx context.Context, peer, arena, path string, b blob.Hash) (rpc.Content, error) {
	s.mu.Lock()
	s.opens++
	s.mu.Unlock()
	return &pacedContent{data: s.data, wait: s.wait}, nil
}

func (s *pacedStore) opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// servePeer starts a real rpc.Server for store, trusting key, and returns a
// client of it with key.
func servePeer(t *testing.T, name string, store rpc.Store, key ed25519.PrivateKey) *rpc.Client {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	srv, err := rpc.NewServer(rpc.ServerConfig{Listen: "127.0.0.1:0", Key: sk,
		Peers: []rpc.Peer{{Name: "me", Key: identity.Public(key)}}, Store: store, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	c := rpc.NewClient(rpc.Peer{Name: name, Key: identity.Public(sk), Address: srv.Addr().String()}, key, testLog(t))
	t.Cleanup(func() { c.Close(); cancel(); <-done })
	return c
}

// rpcPeers is the daemon's Fetcher (daemon/handlers.go): the client of
// each peer, with every reply message reported as Progress.
type rpcPeers map[string]*rpc.Client

func (f rpcPeers) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	c, ok := f[peer]
	if !ok {
		return 0, fmt.Errorf("no client for %s", peer)
	}
	fctx := ctx
	return c.ReadAt(rpc.WithProgress(ctx, func(n int) { Progress(fctx, n) }), arena, path, b, p, off)
}

// stalling makes a content stop after `after` messages until release is
// closed (a peer that stops sending mid-chunk).
func stalling(after int, release <-chan struct{}) func(int) {
	return func(call int) {
		if call > after {
			<-release
		}
	}
}

// readWithin reads docs/name under dir like cat, failing the test if it
// has not returned within d.
func readWithin(t *testing.T, dir, name string, d time.Duration) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readAll(filepath.Join(dir, "docs", name), 128<<10)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(d):
		t.Fatalf("read of %s still hanging after %s", name, d)
		return nil, nil
	}
}

// A peer that sends a chunk slowly but steadily (one 256 KiB message every
// 200 ms: a 4 MiB chunk takes over 3 s) is not cut off by a FetchTimeout
// shorter than the whole chunk's time: the bound is on silence.
func TestReadSlowSteadyPeer(t *testing.T) {
	c := newCache(t)
	data := randomData(t, chunkSize+chunkSize/2) // two chunks, the second half one
	slow := &pacedStore{data: data, wait: func(int) { time.Sleep(200 * time.Millisecond) }}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	peers := rpcPeers{"alice": servePeer(t, "alice", slow, key)}
	mustApply(t, c, "alice", linkData(1, "f.bin", data))
	dir := mountWith(t, c, peers, Options{FetchTimeout: 1500 * time.Millisecond})
	got, err := readWithin(t, dir, "f.bin", 2*time.Minute)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
	if n := slow.opened(); n != 2 {
		t.Fatalf("alice was asked %d times for 2 chunks: a fetch was cut off and retried", n)
	}
}

// A peer that stops sending mid-chunk is given up after FetchTimeout of
// silence: another peer with the blob serves the rest; with none left the
// read fails with EIO, within a bound.
func TestReadPeerStopsMidChunk(t *testing.T) {
	for _, how := range []string{"failover", "none"} {
		t.Run(how, func(t *testing.T) {
			c := newCache(t)
			data := randomData(t, 2*chunkSize)
			release := make(chan struct{})
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			alice := &pacedStore{data: data, wait: stalling(4, release)} // 1 MiB, then silence
			bob := &pacedStore{data: data, wait: func(int) {}}
			if how == "none" {
				bob.wait = stalling(6, release)
			}
			peers := rpcPeers{
				"alice": servePeer(t, "alice", alice, key),
				"bob":   servePeer(t, "bob", bob, key),
			}
			t.Cleanup(func() { close(release) }) // before the servers stop
			mustApply(t, c, "alice", linkData(1, "f.bin", data))
			mustApply(t, c, "bob", linkData(1, "f.bin", data))
			dir := mountWith(t, c, peers, Options{FetchTimeout: 1500 * time.Millisecond})
			got, err := readWithin(t, dir, "f.bin", time.Minute)
			if how == "none" {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("read with both peers stalled: %d bytes, %v; want EIO", len(got), err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
			}
			if bob.opened() == 0 {
				t.Fatal("bob served nothing")
			}
		})
	}
}
