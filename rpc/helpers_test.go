package rpc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logBuf collects log lines of a test.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines containing every one of subs.
func (l *logBuf) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeHistory records the calls it gets.
type fakeHistory struct {
	mu       sync.Mutex
	arenas   []string
	progress uint64
	err      error
	peers    []string
	batches  [][]history.Entry
}

func (h *fakeHistory) Arenas(_ context.Context, peer string) ([]string, uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peers = append(h.peers, peer)
	if h.err != nil {
		return nil, 0, h.err
	}
	return h.arenas, h.progress, nil
}

func (h *fakeHistory) Notify(_ context.Context, peer string, batch []history.Entry) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peers = append(h.peers, peer)
	h.batches = append(h.batches, batch)
	if h.err != nil {
		return 0, h.err
	}
	if len(batch) > 0 {
		h.progress = batch[len(batch)-1].Index
	}
	return h.progress, nil
}

func (h *fakeHistory) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.peers)
}

// memStore serves in-memory files; key is arena + "/" + path.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	opens []string // peers that opened
	sums  map[string]blob.Hash
	wrap  func(Content) Content
}

func (s *memStore) Open(_ context.Context, peer, arena, path string, b blob.Hash) (Content, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens = append(s.opens, peer)
	if arena != "docs" && arena != "big" {
		return nil, fmt.Errorf("%w %q", ErrUnknownArena, arena)
	}
	data, ok := s.files[arena+"/"+path]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, arena, path)
	}
	if s.sums == nil {
		s.sums = map[string]blob.Hash{}
	}
	sum, ok := s.sums[arena+"/"+path]
	if !ok {
		sum = blob.Of(data)
		s.sums[arena+"/"+path] = sum
	}
	if sum != b {
		return nil, fmt.Errorf("%w: %s/%s is no longer version %s", ErrChanged, arena, path, b)
	}
	var c Content = &memContent{bytes.NewReader(data)}
	if s.wrap != nil {
		c = s.wrap(c)
	}
	return c, nil
}

type memContent struct{ *bytes.Reader }

func (memContent) Close() error { return nil }

// shrinking pretends the file was truncated to n bytes after Open.
type shrinking struct {
	Content
	n int64
}

func (s shrinking) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.n {
		return 0, io.EOF
	}
	if rest := s.n - off; int64(len(p)) > rest {
		n, _ := s.Content.ReadAt(p[:rest], off)
		return n, io.EOF
	}
	return s.Content.ReadAt(p, off)
}

// fixture is a server ("desk") and the identity of one client ("laptop").
type fixture struct {
	srv       *Server
	hist      *fakeHistory
	store     *memStore
	log       *logBuf
	serverKey ed25519.PrivateKey
	clientKey ed25519.PrivateKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the server's config changed by edit.
func newFixtureWith(t testing.TB, edit func(*ServerConfig)) *fixture {
	t.Helper()
	f := &fixture{
		hist:      &fakeHistory{arenas: []string{"docs", "photos/2024"}, progress: 41},
		store:     &memStore{files: map[string][]byte{}},
		log:       &logBuf{},
		serverKey: newKey(t),
		clientKey: newKey(t),
	}
	cfg := ServerConfig{
		Listen:  "127.0.0.1:0",
		Key:     f.serverKey,
		Peers:   []Peer{{Name: "laptop", Key: identity.Public(f.clientKey)}},
		History: f.hist,
		Store:   f.store,
		Log:     f.log.logger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after its context was cancelled")
		}
	})
	return f
}

// client returns a client of the fixture's server with key, pinned to pin.
func (f *fixture) clientWith(t testing.TB, key ed25519.PrivateKey, pin identity.PublicKey) *Client {
	t.Helper()
	c := NewClient(Peer{Name: "desk", Key: pin, Address: f.srv.Addr().String()}, key, f.log.logger())
	t.Cleanup(c.Close)
	return c
}

func (f *fixture) client(t testing.TB) *Client {
	return f.clientWith(t, f.clientKey, identity.Public(f.serverKey))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one matching %v", err, target)
	}
}
