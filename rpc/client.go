package rpc

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
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
)

// Client calls one peer. It keeps one HTTP/2 connection, verifies that the
// peer presents exactly its pinned key, and is safe for concurrent use.
type Client struct {
	peer      Peer
	self      identity.PublicKey
	log       *slog.Logger
	err       error // set when the client cannot work at all (bad key, no address)
	transport *http.Transport
	history   realv1connect.HistoryServiceClient
	store     realv1connect.StoreServiceClient
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
		HTTP2: &http.HTTP2Config{
			SendPingTimeout:               sendPingTimeout,
			PingTimeout:                   pingTimeout,
			MaxReceiveBufferPerStream:     4 << 20,
			MaxReceiveBufferPerConnection: 16 << 20,
		},
	}
	hc := &http.Client{Transport: c.transport}
	base := "https://" + p.Address
	c.history = realv1connect.NewHistoryServiceClient(hc, base,
		connect.WithReadMaxBytes(maxSmallMessage),
		connect.WithSendMaxBytes(MaxNotifyBytes),
	)
	c.store = realv1connect.NewStoreServiceClient(hc, base,
		connect.WithReadMaxBytes(MaxChunk+4096),
		connect.WithAcceptCompression("gzip", nil, nil),
	)
	return c
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
func (c *Client) fail(op string, err error) error {
	err = fromConnect(err)
	// A server refusing our certificate sends a bad_certificate alert; TLS
	// reports it only as text.
	if errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "tls: bad certificate") {
		return fmt.Errorf("peer %s: %s: %w: it refused our key %s (is that key in its real.toml?): %w",
			c.peer.Name, op, ErrPeerKey, c.self, err)
	}
	return fmt.Errorf("peer %s: %s: %w", c.peer.Name, op, err)
}
