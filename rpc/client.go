package rpc

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/identity"

	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// Client timeouts. A call's own duration is bounded by its context only.
const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	clientIdleTimeout   = 5 * time.Minute
	probeTimeout        = 5 * time.Second
)

// Client calls one peer. It keeps one HTTP/2 connection, verifies that the
// peer presents exactly its pinned key, and is safe for concurrent use.
type Client struct {
	peer      Peer
	self      identity.PublicKey
	log       *slog.Logger
	probing   atomic.Bool
	err       error // set when the client cannot work at all (bad key, no address)
	transport *http.Transport
	history   realv1connect.HistoryServiceClient
	store     realv1connect.StoreServiceClient
	trees     realv1connect.StoreServiceClient // Tree, with room for MaxTree
	historyID string                           // sent with Arenas, Notify and Report (SetHistoryID)
}

// NewClient makes a client for p that authenticates with key. It does not
// connect yet; a problem with p or key is returned by every call.
func NewClient(p Peer, key ed25519.PrivateKey, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{peer: p, log: log.With("peer", p.Name)}
	cert, err := selfSigned(key)
	if err == nil {
		c.self = identity.Public(key)
	}
	if err != nil {
		c.err = fmt.Errorf("%w: %w", ErrInvalid, err)
		return c
	}
	if p.Address == "" {
		c.err = fmt.Errorf("%w: no address configured", ErrUnavailable)
		return c
	}
	if _, _, err := net.SplitHostPort(p.Address); err != nil {
		c.err = fmt.Errorf("%w: address %q: %w", ErrInvalid, p.Address, err)
		return c
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	c.transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     c.tlsConfig(cert),
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		ForceAttemptHTTP2:   true,
		Protocols:           &protos,
		IdleConnTimeout:     clientIdleTimeout,
		HTTP2:               clientHTTP2(),
	}
	c.connectClients(&http.Client{Transport: c.transport}, "https://"+p.Address)
	return c
}

// connectClients makes the Connect clients of the services over hc.
func (c *Client) connectClients(hc *http.Client, base string) {
	c.history = realv1connect.NewHistoryServiceClient(hc, base,
		connect.WithReadMaxBytes(maxSmallMessage),
		connect.WithSendMaxBytes(MaxNotifyBytes),
	)
	c.store = realv1connect.NewStoreServiceClient(hc, base,
		connect.WithReadMaxBytes(MaxChunk+4096),
		connect.WithAcceptCompression("gzip", nil, nil),
		connect.WithCodec(storeCodec{}),
	)
	c.trees = realv1connect.NewStoreServiceClient(hc, base,
		connect.WithReadMaxBytes(MaxTree+treeSlack),
		connect.WithAcceptCompression("gzip", nil, nil), // hashes do not compress
	)
}

// tlsConfig trusts exactly the pinned key: no CA, no hostname.
func (c *Client) tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
		ServerName:   "real",
		// The chain is not checked against a CA: VerifyConnection checks
		// the key, and the handshake proved the peer holds it.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			k, err := presentedKey(cs)
			if err != nil {
				return fmt.Errorf("peer %s at %s: %w", c.peer.Name, c.peer.Address, err)
			}
			if k != c.peer.Key {
				return &keyMismatch{peer: c.peer.Name, addr: c.peer.Address, got: k, want: c.peer.Key}
			}
			return nil
		},
	}
}

// Close drops the idle connections; calls in flight finish.
func (c *Client) Close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// fail names the peer and the operation and maps the wire error back.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	err = fromConnect(err)
	if c.mayBeRefused(ctx, err) {
		if refused := c.probeRefused(ctx); refused != nil {
			return fmt.Errorf("peer %s: %s: %w: it refused our key %s (is that key in its real.toml?): %w",
				c.peer.Name, op, ErrPeerKey, c.self, err)
		}
	}
	return fmt.Errorf("peer %s: %s: %w", c.peer.Name, op, err)
}

// mayBeRefused tells whether err may come from the peer refusing our key: a
// transport failure after the TCP connection was made, not caused by ctx.
func (c *Client) mayBeRefused(ctx context.Context, err error) bool {
	if c.transport == nil || ctx.Err() != nil || errors.Is(err, ErrPeerKey) {
		return false
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false // refused here, before the wire (a bad batch, a bad reply)
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeCanceled, connect.CodeUnknown:
	default:
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

// h2Preface is the HTTP/2 client connection preface followed by an empty
// SETTINGS frame (RFC 9113 3.4).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// probeRefused tells whether the peer refuses our certificate. In TLS 1.3
// the refusal (a bad_certificate alert) arrives after the client finished its
// handshake, and HTTP/2 often reports only that the connection failed; so
// after a failed call a fresh connection sends the HTTP/2 preface and waits
// for the server's first bytes. It takes at most probeTimeout, and ends
// when the caller's ctx does (a stalled peer holds no call past its
// context). TLS reports the alert only as text.
func (c *Client) probeRefused(ctx context.Context) error {
	if !c.probing.CompareAndSwap(false, true) {
		return nil
	}
	defer c.probing.Store(false)
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: c.transport.TLSClientConfig}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", c.peer.Address)
	if err != nil {
		return nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(probeTimeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	// An HTTP/2 server answers the client preface and a SETTINGS frame with
	// its own SETTINGS (net/http's sends them unasked too; others may wait).
	if _, err := conn.Write(h2Preface); err != nil && strings.Contains(err.Error(), "tls: bad certificate") {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	if err != nil && strings.Contains(err.Error(), "tls: bad certificate") {
		return err
	}
	return nil
}

// clientHTTP2 is the HTTP/2 of every connection this peer calls over (its
// own, and a reverse one a laptop opened): pings, and receive windows large
// enough for a Read stream of 256 KiB messages.
func clientHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{
		SendPingTimeout:               sendPingTimeout,
		PingTimeout:                   pingTimeout,
		MaxReceiveBufferPerStream:     4 << 20,
		MaxReceiveBufferPerConnection: 16 << 20,
		MaxReadFrameSize:              1 << 20,
	}
}
