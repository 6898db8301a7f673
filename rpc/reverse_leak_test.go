package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settled waits until count() is at most want (goroutines and connections
// wind down after a close), and returns its last value.
func settled(count func() int, want int) int {
	deadline := time.Now().Add(10 * time.Second)
	n := count()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = count()
	}
	return n
}

// TestReverseReconnectsLeakNothing: a laptop that connects, is read and
// goes away again and again (hours of a flaky link) leaves no goroutine
// and no file descriptor behind on either side, whether its connection
// ends on its side or is replaced by its next one.
func TestReverseReconnectsLeakNothing(t *testing.T) {
	f := newFixture(t)
	data := bytes.Repeat([]byte("laptop "), 1000)
	laptop := &memStore{files: map[string][]byte{"docs/a": data}}
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey)}, nil)
	o := f.offerFrom(t, f.clientKey, laptop)
	read := func() {
		t.Helper()
		buf := make([]byte, len(data))
		if _, err := rc.ReadAt(ctxT(t), "docs", "a", blob.Of(data), buf, 0); err != nil || !bytes.Equal(buf, data) {
			t.Fatalf("read over the reverse connection: %v", err)
		}
	}
	// once connects, reads, and ends the connection on the laptop's side.
	once := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			o.Serve(ctx)
		}()
		waitUntil(t, "reverse connection up", func() bool { return f.srv.Reverse("laptop") })
		read()
		cancel()
		<-done
		waitUntil(t, "reverse connection down", func() bool { return !f.srv.Reverse("laptop") })
	}
	// replaced connects twice, the second replacing the first on the
	// server, and reads over each.
	replaced := func() {
		o2 := f.offerFrom(t, f.clientKey, laptop)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() {
			o.Serve(ctx)
			done <- struct{}{}
		}()
		waitUntil(t, "first reverse connection up", func() bool { return o.Up() && f.srv.Reverse("laptop") })
		read()
		go func() {
			o2.Serve(ctx)
			done <- struct{}{}
		}()
		waitUntil(t, "first connection replaced", func() bool { return !o.Up() })
		waitUntil(t, "second reverse connection up", func() bool { return o2.Up() && f.srv.Reverse("laptop") })
		read()
		cancel()
		<-done
		<-done
		if err := o2.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "reverse connection down", func() bool { return !f.srv.Reverse("laptop") })
	}
	for range 3 { // warm up: pools, timers, the tree cache
		once()
		replaced()
	}
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	const rounds = 8
	for range rounds {
		once()
		replaced()
	}
	if g := settled(runtime.NumGoroutine, g0+5); g > g0+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after %d reconnects, %d before:\n%s", g, 3*rounds, g0, buf[:runtime.Stack(buf, true)])
	}
	if fd := settled(func() int { return openFDs(t) }, fd0+3); fd > fd0+3 {
		t.Errorf("%d open fds after %d reconnects, %d before", fd, 3*rounds, fd0)
	}
	if err := o.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestReverseReplacedAtOnceIsNotConnected: a laptop's connection that the
// server drops at once, because another one with its key replaces it (its
// store copied to a second machine, both running), is not reported
// connected: the daemon's backoff grows instead of the two machines
// replacing each other's connection many times a second, each logged.
func TestReverseReplacedAtOnceIsNotConnected(t *testing.T) {
	f := newFixture(t)
	laptop := &memStore{files: map[string][]byte{"docs/a": []byte("x")}}
	first, second := f.offerFrom(t, f.clientKey, laptop), f.offerFrom(t, f.clientKey, laptop)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	type result struct {
		connected bool
		err       error
	}
	done := make(chan result, 1)
	go func() {
		c, err := first.Serve(ctx)
		done <- result{c, err}
	}()
	waitUntil(t, "first connection up", func() bool { return first.Up() && f.srv.Reverse("laptop") })
	go second.Serve(ctx)
	r := <-done
	if r.connected || !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("Serve of a connection replaced at once = %v, %v; want not connected, ErrUnavailable", r.connected, r.err)
	}
	waitUntil(t, "second connection up", func() bool { return second.Up() && f.srv.Reverse("laptop") })
	cancel()
	for _, o := range []*Offer{first, second} {
		if err := o.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReverseOlderPeerWithoutALPN: an Offer to a peer running an older
// real (its TLS offers h2 only) is refused in the handshake, not taken:
// Serve says not connected with ErrUnavailable at once, so the daemon's
// backoff grows instead of reconnecting in a loop.
func TestReverseOlderPeerWithoutALPN(t *testing.T) {
	serverKey, clientKey := newKey(t), newKey(t)
	cert, err := selfSigned(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequestClientCert, NextProtos: []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	o, err := NewOffer(OfferConfig{
		Peer:  Peer{Name: "desk", Key: identity.Public(serverKey), Address: ln.Addr().String()},
		Key:   clientKey,
		Store: &memStore{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		connected, err := o.Serve(ctxT(t))
		if connected || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Serve to an older peer = %v, %v; want not connected, ErrUnavailable", connected, err)
		}
	}
	if err := o.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
