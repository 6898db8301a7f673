package rpc

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realsync/real/identity"
)

// offerTLSKey carries an Offer connection's TLS state to authenticate
// (net/http sees the connection as cleartext, so Request.TLS is nil).
type offerTLSKey struct{}

// offerGrace bounds how long an ending Offer connection waits for the
// requests in flight.
const offerGrace = 2 * time.Second

// offerSteady is how long a reverse connection must have been up for
// Serve to report it connected (the caller's backoff starts over): one
// the peer drops sooner, again and again (a second machine with this
// peer's key, whose connections replace ours), is retried with a growing
// backoff instead of many times a second.
const offerSteady = 5 * time.Second

// OfferConfig configures NewOffer.
type OfferConfig struct {
	Peer  Peer               // the peer offered to: it has an Address, and pins us without one
	Key   ed25519.PrivateKey // this peer's identity
	Store Store              // what is served (StoreService)
	Log   *slog.Logger       // nil: discard
	// StallTimeout is as in ServerConfig (0: DefaultStallTimeout).
	StallTimeout time.Duration
}

// Offer serves this peer's StoreService to one peer it can call but that
// cannot call it (this peer has no listening address): over a reverse
// connection this peer opens (ALPN ReverseProto, the same mutual TLS as
// its calls), on which the other peer is the HTTP/2 client. The caller is
// authenticated as by a Server whose only peer is Offer's.
type Offer struct {
	s    *Server // the handler: authenticate, StoreService
	peer Peer
	tls  *tls.Config
	self identity.PublicKey
	log  *slog.Logger

	wg sync.WaitGroup // Serve calls running
	up atomic.Int32   // Serve calls with a connection taken by the peer

	// The requests being handled: a Serve past its grace returns while
	// a handler may still be reading a Content (a slow disk), and Close
	// waits for them.
	mu      sync.Mutex
	running int           // handlers running (mu)
	idle    chan struct{} // closed when running drops to 0, if asked for (mu)
	closing bool          // Close was called: a request still arriving is refused (mu)
}

// track counts the requests being handled.
func (o *Offer) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		if o.closing {
			o.mu.Unlock()
			http.Error(w, "closing", http.StatusServiceUnavailable)
			return
		}
		o.running++
		o.mu.Unlock()
		defer func() {
			o.mu.Lock()
			o.running--
			if o.running == 0 && o.idle != nil {
				close(o.idle)
				o.idle = nil
			}
			o.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// handled takes no request any more and returns a channel closed once
// none is being handled.
func (o *Offer) handled() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closing = true
	if o.running == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if o.idle == nil {
		o.idle = make(chan struct{})
	}
	return o.idle
}

// Up tells whether a reverse connection to the peer is up: the peer took
// it and it has not ended.
func (o *Offer) Up() bool { return o.up.Load() > 0 }

// NewOffer checks cfg; it does not connect yet.
func NewOffer(cfg OfferConfig) (*Offer, error) {
	if cfg.Peer.Address == "" {
		return nil, fmt.Errorf("rpc offer to %s: the peer has no address", cfg.Peer.Name)
	}
	if _, _, err := net.SplitHostPort(cfg.Peer.Address); err != nil {
		return nil, fmt.Errorf("rpc offer to %s: address %q: %w", cfg.Peer.Name, cfg.Peer.Address, err)
	}
	if cfg.Store == nil {
		return nil, fmt.Errorf("rpc offer to %s: no store", cfg.Peer.Name)
	}
	s, cert, err := newServer(ServerConfig{Key: cfg.Key, Peers: []Peer{cfg.Peer}, Store: cfg.Store, Log: cfg.Log, StallTimeout: cfg.StallTimeout})
	if err != nil {
		return nil, fmt.Errorf("rpc offer to %s: %w", cfg.Peer.Name, err)
	}
	o := &Offer{s: s, peer: cfg.Peer, self: identity.Public(cfg.Key), log: s.log.With("peer", cfg.Peer.Name)}
	c := &Client{peer: cfg.Peer}
	o.tls = c.tlsConfig(cert)
	o.tls.NextProtos = []string{ReverseProto}
	return o, nil
}

// Serve opens one reverse connection to the peer and serves on it until
// it ends (the peer closed it or went silent past the pings) or ctx is
// done. connected tells whether the peer took the connection and kept it
// for offerSteady at least (one ended sooner is not); the error
// says why it ended (ErrUnavailable; ErrPeerKey when the peer refused our
// key), or is ctx's. Call it again, with backoff, to keep the peer able
// to read our files.
func (o *Offer) Serve(ctx context.Context) (connected bool, err error) {
	o.wg.Add(1)
	defer o.wg.Done()
	tc, err := o.open(ctx)
	if err != nil {
		return false, err
	}
	state := tc.ConnectionState()
	wc := &wireConn{Conn: tc}
	ended := make(chan struct{})
	wc.closed = func() { close(ended) }
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:     o.track(o.s.handler),
		Protocols:   &protos,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ConnContext: func(c context.Context, _ net.Conn) context.Context {
			return context.WithValue(c, offerTLSKey{}, &state)
		},
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelDebug),
		HTTP2:             serverHTTP2(),
	}
	o.up.Add(1)
	defer o.up.Add(-1)
	start := time.Now()
	ln := newOneConnListener(wc)
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	o.log.Info("reverse connection up: the peer reads our files over it", "addr", o.peer.Address)
	select {
	case <-ended:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), offerGrace)
	if hs.Shutdown(sctx) != nil {
		hs.Close()
	}
	cancel()
	wc.Close()
	<-served
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	if time.Since(start) < offerSteady { // the same text each time: logged once
		return false, fmt.Errorf("peer %s: reverse connection: %w: it ended within %v (another connection with our key replacing it?)",
			o.peer.Name, ErrUnavailable, offerSteady)
	}
	return true, fmt.Errorf("peer %s: reverse connection: %w: it ended", o.peer.Name, ErrUnavailable)
}

// open dials the peer with ReverseProto and waits for it to take the
// connection.
func (o *Offer) open(ctx context.Context) (*tls.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}, Config: o.tls}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout+tlsHandshakeTimeout)
	conn, err := d.DialContext(dctx, "tcp", o.peer.Address)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrPeerKey) {
			return nil, fmt.Errorf("peer %s: reverse connection: %w", o.peer.Name, err)
		}
		return nil, fmt.Errorf("peer %s: reverse connection: %w: %w", o.peer.Name, ErrUnavailable, err)
	}
	tc := conn.(*tls.Conn)
	if p := tc.ConnectionState().NegotiatedProtocol; p != ReverseProto {
		tc.Close()
		return nil, fmt.Errorf("peer %s: reverse connection: %w: it does not take them (protocol %q)", o.peer.Name, ErrUnavailable, p)
	}
	// In TLS 1.3 a refusal of our key arrives after our handshake: the
	// first read tells, as does a refusal of a reverse connection (closed).
	tc.SetReadDeadline(time.Now().Add(tlsHandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { tc.SetReadDeadline(time.Now()) })
	var b [1]byte
	_, err = io.ReadFull(tc, b[:])
	stop()
	switch {
	case ctx.Err() != nil:
		tc.Close()
		return nil, ctx.Err()
	case err != nil && strings.Contains(err.Error(), "tls: bad certificate"):
		tc.Close()
		return nil, fmt.Errorf("peer %s: reverse connection: %w: it refused our key %s (is that key in its real.toml?): %w",
			o.peer.Name, ErrPeerKey, o.self, err)
	case err != nil || b[0] != reverseAccept:
		tc.Close()
		return nil, fmt.Errorf("peer %s: reverse connection: %w: it did not take it (does its real.toml pin us without an address?): %v",
			o.peer.Name, ErrUnavailable, err)
	}
	tc.SetReadDeadline(time.Time{})
	return tc, nil
}

// Close stops the Tree hashing and waits, until ctx is done, for it, for
// the Serve calls running (their ctx must be done) and for the requests
// they left being handled (a read from a slow disk outlives Serve's
// grace): once it returned nil no Content is read any more.
func (o *Offer) Close(ctx context.Context) error {
	o.s.trees.close()
	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("rpc offer to %s: close: %w", o.peer.Name, ctx.Err())
	}
	select {
	case <-o.handled():
	case <-ctx.Done():
		return fmt.Errorf("rpc offer to %s: close: reads still running: %w", o.peer.Name, ctx.Err())
	}
	if err := o.s.trees.wait(ctx); err != nil {
		return fmt.Errorf("rpc offer to %s: close: %w", o.peer.Name, err)
	}
	return nil
}

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	conns  chan net.Conn
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), addr: c.LocalAddr(), closed: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
