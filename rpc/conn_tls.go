package rpc

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// The server terminates TLS itself instead of leaving it to net/http, for
// one reason: speed. crypto/tls writes each TLS record (at most 16 KiB) with
// a write call of its own, so a 1 MiB HTTP/2 DATA frame costs 64 write
// system calls; on loopback those calls were a fifth of a store read's CPU.
// serverConn.Write lets the records of one write gather in recordBatcher and
// reach the socket in writes of up to batchBytes, flushed before Write
// returns, so nothing waits in the buffer for a later write.
//
// net/http then serves the decrypted stream as HTTP/2 with prior knowledge
// (http.Protocols' unencrypted HTTP/2: the bytes on the wire are TLS 1.3 all
// the same). It does not see the TLS state: authenticate takes the caller's
// key from the connection, found in the request context (connFrom).

// batchBytes bounds one batched socket write.
const batchBytes = 256 << 10

// tlsListener hands out TLS server connections; the handshake happens in
// the first Read (under net/http's ReadHeaderTimeout deadline), not in Accept,
// so a slow client holds up nobody else.
type tlsListener struct {
	net.Listener
	config *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b := &recordBatcher{Conn: raw}
	return &serverConn{tls: tls.Server(b, l.config), raw: b}, nil
}

// serverConn is a server connection as net/http sees it: the plaintext of
// one TLS connection. It has no ConnectionState method on purpose: net/http
// would take a connection with one for HTTP/1 over TLS.
type serverConn struct {
	tls *tls.Conn
	raw *recordBatcher
}

func (c *serverConn) Read(p []byte) (int, error) { return c.tls.Read(p) }

// Write sends p's records in as few socket writes as batchBytes allows.
func (c *serverConn) Write(p []byte) (int, error) {
	// The handshake's own flights must not wait in the batch for a reply
	// that needs them.
	if err := c.tls.Handshake(); err != nil {
		return 0, err
	}
	c.raw.begin()
	n, err := c.tls.Write(p)
	if ferr := c.raw.end(); err == nil && ferr != nil {
		err = ferr
	}
	return n, err
}

func (c *serverConn) Close() error                       { return c.tls.Close() }
func (c *serverConn) LocalAddr() net.Addr                { return c.tls.LocalAddr() }
func (c *serverConn) RemoteAddr() net.Addr               { return c.tls.RemoteAddr() }
func (c *serverConn) SetDeadline(t time.Time) error      { return c.tls.SetDeadline(t) }
func (c *serverConn) SetReadDeadline(t time.Time) error  { return c.tls.SetReadDeadline(t) }
func (c *serverConn) SetWriteDeadline(t time.Time) error { return c.tls.SetWriteDeadline(t) }

// state is the connection's TLS state once its handshake is complete.
func (c *serverConn) state() (tls.ConnectionState, bool) {
	cs := c.tls.ConnectionState()
	return cs, cs.HandshakeComplete
}

type connKey struct{}

// withConn is http.Server.ConnContext: it makes the connection a request
// came on known to authenticate.
func withConn(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(*serverConn); ok {
		return context.WithValue(ctx, connKey{}, sc)
	}
	return ctx
}

// connFrom returns the connection withConn stored, or nil.
func connFrom(ctx context.Context) *serverConn {
	sc, _ := ctx.Value(connKey{}).(*serverConn)
	return sc
}

// recordBatcher is the TCP connection under a serverConn. Between begin and
// end, writes (TLS records) gather in a buffer, written out when it is full
// and at end; otherwise writes go straight to the socket. A write from
// another goroutine while a batch is open (a TLS alert) joins the batch and
// goes out with it.
type recordBatcher struct {
	net.Conn
	mu      sync.Mutex
	writers int // open batches
	buf     []byte
}

func (b *recordBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writers == 0 {
		return b.Conn.Write(p)
	}
	if len(b.buf)+len(p) > batchBytes {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > batchBytes {
			return b.Conn.Write(p)
		}
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, batchBytes)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *recordBatcher) begin() {
	b.mu.Lock()
	b.writers++
	b.mu.Unlock()
}

// end closes a batch and writes out what it gathered.
func (b *recordBatcher) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writers--
	return b.flushLocked()
}

func (b *recordBatcher) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
