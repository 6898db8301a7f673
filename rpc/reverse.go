package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ReverseProto is the ALPN protocol of a reverse connection: a peer
// without an address (it cannot be called, say a laptop behind NAT) opens
// it to a peer it calls, over the same mutual TLS 1.3 as its calls, and
// then the roles swap: it serves StoreService over HTTP/2 on that
// connection (an Offer) and the peer it called is the HTTP/2 client
// (Server.ReverseClient), so that the files it announces can be read.
const ReverseProto = "real-reverse/1"

// reverseAccept is the one byte the called peer writes when it takes a
// reverse connection, before HTTP/2 begins: the offering peer knows then
// that it is used (a refusal closes the connection instead).
const reverseAccept byte = 1

// reversePool holds, per peer without an address, the reverse connection
// it opened to this server (the latest one).
type reversePool struct {
	s  *Server
	tr *http.Transport // makes HTTP/2 client conns over the conns taken

	mu     sync.Mutex
	conns  map[string]*reverseConn // by peer name
	closed bool
}

// reverseConn is one reverse connection in use.
type reverseConn struct {
	cc   *http.ClientConn
	once sync.Once
	done chan struct{} // closed when the connection ended or is to end
}

func (rc *reverseConn) stop() { rc.once.Do(func() { close(rc.done) }) }

// reverseDialKey carries the connection to hand to the Transport's dial.
type reverseDialKey struct{}

func newReversePool(s *Server) *reversePool {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true) // HTTP/2 over the TLS conn, seen by net/http as a plain one
	p := &reversePool{s: s, conns: map[string]*reverseConn{}}
	p.tr = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c, ok := ctx.Value(reverseDialKey{}).(net.Conn); ok {
				return c, nil
			}
			return nil, fmt.Errorf("%w: no reverse connection to use", ErrUnavailable)
		},
		Protocols: &protos,
		HTTP2:     clientHTTP2(),
	}
	return p
}

// serve takes a reverse connection (http.Server.TLSNextProto): from a
// configured peer without an address only (the handshake refused unknown
// keys already). It returns when the connection ends (the peer closed it,
// a ping went unanswered) or the server shuts down; net/http closes it then.
func (p *reversePool) serve(_ *http.Server, tc *tls.Conn, _ http.Handler) {
	remote := tc.RemoteAddr().String()
	k, err := presentedKey(tc.ConnectionState())
	if err != nil {
		return
	}
	name, ok := p.s.peers[k]
	if !ok {
		return
	}
	if p.s.addressed[k] {
		p.s.logRefused("reverse "+k.String(),
			"refused reverse connection: real.toml gives this peer an address, so we call it; only a peer without one may offer its files over its own connection",
			"peer", name, "key", k.String(), "remote", remote)
		return
	}
	tc.SetWriteDeadline(time.Now().Add(tlsHandshakeTimeout))
	if _, err := tc.Write([]byte{reverseAccept}); err != nil {
		p.s.log.Debug("reverse connection lost at start", "peer", name, "remote", remote, "err", err)
		return
	}
	tc.SetWriteDeadline(time.Time{})
	rc := &reverseConn{done: make(chan struct{})}
	wc := &wireConn{Conn: tc, closed: rc.stop}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), reverseDialKey{}, net.Conn(wc)), tlsHandshakeTimeout)
	cc, err := p.tr.NewClientConn(ctx, "http", "reverse.invalid:1")
	cancel()
	if err != nil {
		p.s.log.Debug("reverse connection: HTTP/2 did not start", "peer", name, "remote", remote, "err", err)
		return
	}
	rc.cc = cc
	cc.SetStateHook(func(cc *http.ClientConn) {
		if cc.Err() != nil {
			rc.stop()
		}
	})
	if !p.put(name, rc) {
		cc.Close()
		return
	}
	p.s.log.Info("reverse connection up: this peer's files are read over the connection it opened", "peer", name, "remote", remote)
	<-rc.done
	p.drop(name, rc)
	cc.Close()
	p.s.log.Info("reverse connection down", "peer", name, "remote", remote)
}

// put makes rc the peer's connection, ending the one before; false when
// the pool is closed.
func (p *reversePool) put(name string, rc *reverseConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if old := p.conns[name]; old != nil {
		old.stop()
	}
	p.conns[name] = rc
	return true
}

func (p *reversePool) drop(name string, rc *reverseConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[name] == rc {
		delete(p.conns, name)
	}
}

// get returns the peer's usable connection, or nil.
func (p *reversePool) get(name string) *reverseConn {
	p.mu.Lock()
	rc := p.conns[name]
	p.mu.Unlock()
	if rc == nil || rc.cc.Err() != nil {
		return nil
	}
	return rc
}

// close ends every reverse connection and takes no more (on Shutdown).
func (p *reversePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, rc := range p.conns {
		rc.stop()
	}
}

// Reverse tells whether a reverse connection of the named peer is up.
func (s *Server) Reverse(peer string) bool { return s.reverse.get(peer) != nil }

// ReverseClient returns a client for p, a peer configured without an
// address, that calls it over the reverse connection it opened to this
// server while one is up (the latest); without one, a call fails at once
// with ErrUnavailable. Only StoreService (ReadAt, Tree) is served there.
func (s *Server) ReverseClient(p Peer, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{peer: p, log: log.With("peer", p.Name)}
	if p.Address != "" {
		c.err = fmt.Errorf("%w: peer %s has an address: call it", ErrInvalid, p.Name)
		return c
	}
	c.connectClients(&http.Client{Transport: reverseRoundTripper{pool: s.reverse, peer: p.Name}}, "http://reverse.invalid")
	return c
}

// reverseRoundTripper sends a request over the peer's reverse connection.
type reverseRoundTripper struct {
	pool *reversePool
	peer string
}

func (rt reverseRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rc := rt.pool.get(rt.peer)
	if rc == nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%w: no reverse connection from peer %s is up (it has no address and is read only while it is connected to us)", ErrUnavailable, rt.peer)
	}
	return rc.cc.RoundTrip(r)
}

// wireConn is a TLS connection shown to net/http as a plain one (not a
// *tls.Conn, no ConnectionState), so that it speaks HTTP/2 with prior
// knowledge over it: the bytes are still TLS underneath. closed is called
// once it is closed.
type wireConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (w *wireConn) Close() error {
	err := w.Conn.Close()
	w.once.Do(w.closed)
	return err
}
