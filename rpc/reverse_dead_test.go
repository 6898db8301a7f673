package rpc

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
)

// freezer is a TCP proxy whose connections can be frozen: bytes stop
// flowing both ways and nothing is closed, as on a cut link.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	gates  []chan struct{} // closed: the connection is frozen
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	go f.accept()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) accept() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", f.target)
		if err != nil {
			in.Close()
			continue
		}
		gate := make(chan struct{})
		f.mu.Lock()
		f.gates = append(f.gates, gate)
		f.conns = append(f.conns, in, out)
		f.mu.Unlock()
		go f.pipe(in, out, gate)
		go f.pipe(out, in, gate)
	}
}

func (f *freezer) pipe(dst, src net.Conn, gate chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-gate:
			return // frozen: drop what came and never write again (nothing is closed)
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

// freeze stops the connections made so far.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.gates {
		select {
		case <-g:
		default:
			close(g)
		}
	}
}

// TestReverseDeadLinkNoticed: when the link under a reverse connection
// goes silent (nothing closed), both sides notice by their pings (within
// sendPingTimeout + pingTimeout), reads fail with ErrUnavailable, and the
// offering side's next connection works.
func TestReverseDeadLinkNoticed(t *testing.T) {
	f := newFixture(t)
	data := []byte("laptop behind a flaky link")
	laptop := &memStore{files: map[string][]byte{"docs/a": data}}
	fr := newFreezer(t, f.srv.Addr().String())
	o, err := NewOffer(OfferConfig{
		Peer:  Peer{Name: "desk", Key: identity.Public(f.serverKey), Address: fr.ln.Addr().String()},
		Key:   f.clientKey,
		Store: laptop,
		Log:   f.log.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey)}, nil)
	serveOffer(t, o)
	waitUntil(t, "reverse connection up", func() bool { return f.srv.Reverse("laptop") })
	buf := make([]byte, len(data))
	if _, err := rc.ReadAt(ctxT(t), "docs", "a", blob.Of(data), buf, 0); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("ReadAt = %v", err)
	}

	fr.freeze()
	// The pings notice the silent link (the desk's or the laptop's first;
	// either one ending it lets the laptop open a new connection, which
	// replaces the old one on the desk): reads work again over the new one,
	// while each one over the frozen link fails at its own deadline.
	bound := sendPingTimeout + pingTimeout + 10*time.Second
	deadline := time.Now().Add(bound)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := rc.ReadAt(ctx, "docs", "a", blob.Of(data), buf, 0)
		cancel()
		if err == nil && bytes.Equal(buf, data) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no read over a new reverse connection %v after the link froze: %v", bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fr.mu.Lock()
	n := len(fr.gates)
	fr.mu.Unlock()
	if n < 2 {
		t.Errorf("%d connections through the link, want a new one after it froze", n)
	}
}
