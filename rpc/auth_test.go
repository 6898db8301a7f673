package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
)

func TestImpostorClientIsRefused(t *testing.T) {
	f := newFixture(t)
	impostor := newKey(t)
	c := f.clientWith(t, impostor, identity.Public(f.serverKey))
	ctx := ctxT(t)

	for range 3 {
		_, _, err := c.Arenas(ctx)
		mustIs(t, err, ErrPeerKey)
		if !strings.Contains(err.Error(), identity.Public(impostor).String()) {
			t.Errorf("error %q does not name the refused key", err)
		}
		if _, err := c.Notify(ctx, sampleBatch()); err == nil {
			t.Fatal("a client with an unknown key was served")
		}
		c.Close()
	}
	if n := f.hist.calls(); n != 0 {
		t.Fatalf("the handler was called %d times for an impostor", n)
	}
	key := identity.Public(impostor).String()
	if got := f.log.lines("level=WARN", "refused", key); len(got) != 1 {
		t.Fatalf("want one warning naming the impostor's key %s, got %d:\n%s", key, len(got), f.log)
	}
}

func TestClientWithoutCertificateIsRefused(t *testing.T) {
	f := newFixture(t)
	conn, err := tls.Dial("tcp", f.srv.Addr().String(), &tls.Config{
		InsecureSkipVerify: true, // this test only checks that the server refuses
		NextProtos:         []string{"h2"},
		MinVersion:         tls.VersionTLS13,
	})
	if err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// TLS 1.3: the server's refusal arrives on the first read.
		_, err = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
	}
	if err == nil {
		t.Fatal("a connection without a client certificate was accepted")
	}
	if got := f.log.lines("level=WARN", "refused connection", "no client certificate"); len(got) != 1 {
		t.Fatalf("want one warning for the missing certificate, got:\n%s", f.log)
	}
}

func TestHTTP1IsRefused(t *testing.T) {
	f := newFixture(t)
	cert, err := selfSigned(f.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	var h1 http.Protocols
	h1.SetHTTP1(true)
	tr := &http.Transport{
		Protocols: &h1,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // this test only checks the protocol
			Certificates:       []tls.Certificate{cert},
		},
	}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Post("https://"+f.srv.Addr().String()+"/real.v1.HistoryService/Arenas", "application/proto", nil)
	if err == nil {
		res.Body.Close()
		t.Fatalf("an HTTP/1.1 request got %s", res.Status)
	}
	if f.hist.calls() != 0 {
		t.Fatal("the handler was called over HTTP/1.1")
	}
}

func TestClientRefusesWrongServerKey(t *testing.T) {
	f := newFixture(t)
	other := newKey(t)
	c := f.clientWith(t, f.clientKey, identity.Public(other))
	_, _, err := c.Arenas(ctxT(t))
	mustIs(t, err, ErrPeerKey)
	var km *keyMismatch
	if !errors.As(err, &km) || km.got != identity.Public(f.serverKey) {
		t.Fatalf("error %v does not name the key presented", err)
	}
	if !strings.Contains(err.Error(), identity.Public(f.serverKey).String()) || !strings.Contains(err.Error(), identity.Public(other).String()) {
		t.Errorf("error %q should name both keys", err)
	}
	if f.hist.calls() != 0 {
		t.Fatal("the handler was called though the client refused the server")
	}
}

func TestUnreachablePeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	key := newKey(t)
	c := NewClient(Peer{Name: "gone", Key: identity.Public(newKey(t)), Address: addr}, key, nil)
	defer c.Close()
	_, _, err = c.Arenas(ctxT(t))
	mustIs(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "peer gone") {
		t.Errorf("error %q does not name the peer", err)
	}

	c = NewClient(Peer{Name: "nat", Key: identity.Public(key)}, key, nil)
	_, err = c.Notify(ctxT(t), sampleBatch())
	mustIs(t, err, ErrUnavailable)

	c = NewClient(Peer{Name: "typo", Key: identity.Public(key), Address: "host-without-port"}, key, nil)
	_, err = c.Notify(ctxT(t), sampleBatch())
	mustIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "host-without-port") {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestNewServerAddressInUse(t *testing.T) {
	f := newFixture(t)
	addr := f.srv.Addr().String()
	_, err := NewServer(ServerConfig{Listen: addr, Key: newKey(t), History: f.hist})
	if err == nil {
		t.Fatal("a second server listened on the same address")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error %q should name %s and say it is in use", err, addr)
	}
}

func TestNewServerRefusesBadConfig(t *testing.T) {
	k := newKey(t)
	pk := identity.Public(k)
	for name, cfg := range map[string]ServerConfig{
		"no listen":   {Key: k},
		"no key":      {Listen: "127.0.0.1:0"},
		"nameless":    {Listen: "127.0.0.1:0", Key: k, Peers: []Peer{{Key: pk}}},
		"shared keys": {Listen: "127.0.0.1:0", Key: k, Peers: []Peer{{Name: "a", Key: pk}, {Name: "b", Key: pk}}},
	} {
		if s, err := NewServer(cfg); err == nil {
			s.Shutdown(context.Background())
			t.Errorf("%s: NewServer accepted %+v", name, cfg)
		}
	}
}

func TestShutdown(t *testing.T) {
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Key: newKey(t), History: &fakeHistory{}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	ctx := ctxT(t)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// The port is free again.
	ln, err := net.Listen("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	ln.Close()

	// Shutdown before Serve releases the port too, and Serve then returns nil.
	s, err = NewServer(ServerConfig{Listen: "127.0.0.1:0", Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ctx); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	ln, err = net.Listen("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("port still held after Shutdown: %v", err)
	}
	ln.Close()
}

// blockingHistory holds Notify until its context ends.
type blockingHistory struct {
	fakeHistory
	entered chan struct{}
}

func (h *blockingHistory) Notify(ctx context.Context, _ string, _ []history.Entry) (uint64, error) {
	close(h.entered)
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestServeCancelEndsCallsInFlight(t *testing.T) {
	serverKey, clientKey := newKey(t), newKey(t)
	h := &blockingHistory{entered: make(chan struct{})}
	s, err := NewServer(ServerConfig{
		Listen:  "127.0.0.1:0",
		Key:     serverKey,
		Peers:   []Peer{{Name: "laptop", Key: identity.Public(clientKey)}},
		History: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	c := NewClient(Peer{Name: "desk", Key: identity.Public(serverKey), Address: s.Addr().String()}, clientKey, nil)
	defer c.Close()
	called := make(chan error, 1)
	go func() {
		_, err := c.Notify(ctxT(t), sampleBatch())
		called <- err
	}()
	select {
	case <-h.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("Notify never reached the handler")
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel with a call in flight")
	}
	select {
	case err := <-called:
		mustIs(t, err, ErrUnavailable)
	case <-time.After(30 * time.Second):
		t.Fatal("the call in flight did not end")
	}
}
