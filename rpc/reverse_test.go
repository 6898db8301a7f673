package rpc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
)

// offerFrom makes an Offer of store to the fixture's server ("desk") with
// key, pinning the server's key.
func (f *fixture) offerFrom(t *testing.T, key ed25519.PrivateKey, store Store) *Offer {
	t.Helper()
	o, err := NewOffer(OfferConfig{
		Peer:  Peer{Name: "desk", Key: identity.Public(f.serverKey), Address: f.srv.Addr().String()},
		Key:   key,
		Store: store,
		Log:   f.log.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// serveOffer runs o.Serve again and again (as the daemon does) until the
// returned stop is called; stop waits for it to end.
func serveOffer(t *testing.T, o *Offer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			o.Serve(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := o.Close(cctx); err != nil {
			t.Errorf("Offer.Close: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 15 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReverseReadAndTree: a peer without an address ("laptop") that offers
// its store over a connection it opens has its files read by the server
// ("desk"), Read and Tree, with the desk authenticated by its TLS key; with
// no reverse connection up, a read fails at once with ErrUnavailable.
func TestReverseReadAndTree(t *testing.T) {
	f := newFixture(t)
	small := bytes.Repeat([]byte("laptop file "), 500)
	big := make([]byte, 2*blob.TreeChunk+12345)
	for i := range big {
		big[i] = byte(i * 7)
	}
	laptop := &memStore{files: map[string][]byte{"docs/a": small, "big/b": big}}
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey)}, f.log.logger())
	ctx := ctxT(t)

	buf := make([]byte, len(small))
	_, err := rc.ReadAt(ctx, "docs", "a", blob.Of(small), buf, 0)
	mustIs(t, err, ErrUnavailable)

	stop := serveOffer(t, f.offerFrom(t, f.clientKey, laptop))
	waitUntil(t, "reverse connection up", func() bool { return f.srv.Reverse("laptop") })

	n, err := rc.ReadAt(ctx, "docs", "a", blob.Of(small), buf, 0)
	if err != nil || n != len(small) || !bytes.Equal(buf, small) {
		t.Fatalf("ReadAt = %d, %v; bytes equal %v", n, err, bytes.Equal(buf[:n], small))
	}
	got := make([]byte, len(big))
	if n, err := rc.ReadAt(ctx, "big", "b", blob.Of(big), got, 0); err != nil || n != len(big) || !bytes.Equal(got, big) {
		t.Fatalf("ReadAt of the big file = %d, %v", n, err)
	}
	root, want, err := blob.Outboard(bytes.NewReader(big), int64(len(big)))
	if err != nil || root != blob.Of(big) {
		t.Fatal(err)
	}
	tree, err := rc.Tree(ctx, "big", "b", blob.Of(big), int64(len(big)))
	if err != nil || !bytes.Equal(tree, want) {
		t.Fatalf("Tree = %d bytes, %v; want the %d of blob.Outboard", len(tree), err, len(want))
	}
	_, err = rc.ReadAt(ctx, "docs", "missing", blob.Of(small), buf, 0)
	mustIs(t, err, ErrNotFound)
	laptop.mu.Lock()
	for _, p := range laptop.opens {
		if p != "desk" {
			t.Errorf("the laptop's store was opened for %q, want desk (the caller, from its TLS key)", p)
		}
	}
	laptop.mu.Unlock()

	stop()
	waitUntil(t, "reverse connection down", func() bool { return !f.srv.Reverse("laptop") })
	_, err = rc.ReadAt(ctx, "docs", "a", blob.Of(small), buf, 0)
	mustIs(t, err, ErrUnavailable)
	_, err = rc.Tree(ctx, "big", "b", blob.Of(big), int64(len(big)))
	mustIs(t, err, ErrUnavailable)
}

// TestReverseRefusedFromPeerWithAddress: a peer pinned with an address is
// called, not read over its own connection: its reverse connection is
// refused, logged at Warn once with its key, and its Offer says so.
func TestReverseRefusedFromPeerWithAddress(t *testing.T) {
	f := newFixtureWith(t, func(c *ServerConfig) { c.Peers[0].Address = "127.0.0.1:1" })
	laptop := &memStore{files: map[string][]byte{"docs/a": []byte("x")}}
	o := f.offerFrom(t, f.clientKey, laptop)
	for range 2 {
		connected, err := o.Serve(ctxT(t))
		if connected || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not take it") {
			t.Fatalf("Serve = %v, %v; want not connected, ErrUnavailable (did not take it)", connected, err)
		}
	}
	if f.srv.Reverse("laptop") {
		t.Error("a reverse connection of a peer with an address is up")
	}
	key := identity.Public(f.clientKey).String()
	if n := len(f.log.lines("level=WARN", "refused reverse connection", key)); n != 1 {
		t.Errorf("%d warnings of the refused reverse connection with its key, want 1:\n%s", n, f.log)
	}
	if len(laptop.opens) != 0 {
		t.Errorf("the refused peer's store was opened: %v", laptop.opens)
	}
	if err := o.Close(ctxT(t)); err != nil {
		t.Error(err)
	}
}

// TestReverseRefusedUnpinnedKey: an Offer with a key the server does not
// pin is refused in the handshake (ErrPeerKey, logged with the key), and
// nothing of its store is asked for.
func TestReverseRefusedUnpinnedKey(t *testing.T) {
	f := newFixture(t)
	stranger := newKey(t)
	laptop := &memStore{files: map[string][]byte{"docs/a": []byte("x")}}
	o := f.offerFrom(t, stranger, laptop)
	connected, err := o.Serve(ctxT(t))
	if connected {
		t.Fatal("an unpinned key's reverse connection was taken")
	}
	mustIs(t, err, ErrPeerKey)
	if len(f.log.lines("refused connection from an unknown key", identity.Public(stranger).String())) == 0 {
		t.Errorf("no log of the refused key:\n%s", f.log)
	}
	if f.srv.Reverse("laptop") || len(laptop.opens) != 0 {
		t.Error("the unpinned key's store is used")
	}
}

// TestReverseOfferPinsTheServer: an Offer to a server presenting another
// key than the pinned one does not serve it.
func TestReverseOfferPinsTheServer(t *testing.T) {
	f := newFixture(t)
	o, err := NewOffer(OfferConfig{
		Peer:  Peer{Name: "desk", Key: identity.Public(newKey(t)), Address: f.srv.Addr().String()},
		Key:   f.clientKey,
		Store: &memStore{},
	})
	if err != nil {
		t.Fatal(err)
	}
	connected, err := o.Serve(ctxT(t))
	if connected {
		t.Fatal("served a server with an unpinned key")
	}
	mustIs(t, err, ErrPeerKey)
}

// TestReverseClientConfig: a reverse client of a peer with an address, and
// an Offer to a peer without one, are refused with clear errors.
func TestReverseClientConfig(t *testing.T) {
	f := newFixture(t)
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey), Address: "127.0.0.1:1"}, nil)
	_, err := rc.ReadAt(ctxT(t), "docs", "a", blob.Of([]byte("x")), make([]byte, 1), 0)
	mustIs(t, err, ErrInvalid)
	_, err = NewOffer(OfferConfig{Peer: Peer{Name: "desk", Key: identity.Public(f.serverKey)}, Key: f.clientKey, Store: &memStore{}})
	if err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("NewOffer to a peer without an address: %v", err)
	}
}

// TestReverseReconnects: a new reverse connection replaces the old one and
// reads go on over it; Shutdown of the server ends the connections.
func TestReverseReconnects(t *testing.T) {
	f := newFixture(t)
	data := []byte("hello from the laptop")
	laptop := &memStore{files: map[string][]byte{"docs/a": data}}
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey)}, nil)
	read := func() error {
		buf := make([]byte, len(data))
		_, err := rc.ReadAt(ctxT(t), "docs", "a", blob.Of(data), buf, 0)
		if err == nil && !bytes.Equal(buf, data) {
			err = fmt.Errorf("read %q", buf)
		}
		return err
	}
	stop1 := serveOffer(t, f.offerFrom(t, f.clientKey, laptop))
	waitUntil(t, "first connection", func() bool { return f.srv.Reverse("laptop") })
	if err := read(); err != nil {
		t.Fatal(err)
	}
	stop1()
	waitUntil(t, "first connection down", func() bool { return !f.srv.Reverse("laptop") })
	serveOffer(t, f.offerFrom(t, f.clientKey, laptop))
	waitUntil(t, "second connection", func() bool { return f.srv.Reverse("laptop") })
	if err := read(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a reverse connection up: %v", err)
	}
	mustIs(t, read(), ErrUnavailable)
}
