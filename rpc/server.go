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
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// Server timeouts.
const (
	readHeaderTimeout = 10 * time.Second // also bounds the TLS handshake
	idleTimeout       = 5 * time.Minute
	sendPingTimeout   = 10 * time.Second // ping a connection silent this long
	pingTimeout       = 5 * time.Second  // and drop it if the ping is not answered: a cut link is noticed within 15 s
	shutdownGrace     = 5 * time.Second  // Serve's own shutdown on ctx cancel
	maxRefusedLogged  = 1024             // distinct refusals remembered, so logged at Warn once
	maxRefusedPerPeer = 100              // refusals of one peer's requests logged at Warn, then at Debug
)

// ServerConfig configures NewServer.
type ServerConfig struct {
	Listen  string             // HOST:PORT to listen on (":0" picks a port)
	Key     ed25519.PrivateKey // this peer's identity
	Peers   []Peer             // the only keys accepted
	History History            // serves HistoryService; nil: not served
	Store   Store              // serves StoreService; nil: not served
	Log     *slog.Logger       // nil: discard
	// StallTimeout bounds how long a reply may make no progress: a write
	// of at most stallPiece bytes (a Read message, a piece of a Tree
	// reply) that the peer does not take in (it answers pings but does
	// not read) for this long abandons the stream, logged at Warn. 0:
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is ServerConfig.StallTimeout when it is 0: longer
// than a caller's own idle bound (the Unreal's FetchTimeout, 15 s) and the
// dead-connection bound of the pings (15 s), so a live caller gives up
// first.
const DefaultStallTimeout = time.Minute

// Server serves real.v1 to the configured peers.
type Server struct {
	ln    net.Listener
	srv   *http.Server
	log   *slog.Logger
	peers map[identity.PublicKey]string
	// addressed tells which peers have an address (we call them): they
	// may not open reverse connections.
	addressed map[identity.PublicKey]bool
	handler   http.Handler // authenticate over the services
	reverse   *reversePool // reverse connections of peers without an address

	refusedMu  sync.Mutex
	refused    map[string]bool // what refusals were logged at Warn already
	refusedMax int             // how many are remembered: maxRefusedLogged

	trees        *treeCache    // StoreService.Tree's computed trees
	stallTimeout time.Duration // ServerConfig.StallTimeout
	reqLog       *requestLog   // the handlers' log of failed requests

	serving  atomic.Bool
	shutOnce sync.Once
	shutDone chan struct{}
	shutErr  error
}

// NewServer checks cfg and listens on cfg.Listen at once, so that an address
// in use is reported here. Serve then accepts connections.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Listen == "" {
		return nil, errors.New("rpc server: no listen address")
	}
	s, cert, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.reverse = newReversePool(s)

	var protos http.Protocols
	protos.SetHTTP2(true)
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert, // checked in VerifyConnection, to log what was presented
		NextProtos:   []string{"h2", ReverseProto},
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		remote := hello.Conn.RemoteAddr().String()
		c.VerifyConnection = func(cs tls.ConnectionState) error { return s.verifyClient(cs, remote) }
		return c, nil
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		TLSConfig:         base,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){ReverseProto: s.reverse.serve},
		Protocols:         &protos,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		HTTP2:             serverHTTP2(),
	}
	s.srv.RegisterOnShutdown(s.reverse.close)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("rpc server: %w", err)
	}
	s.ln = ln
	return s, nil
}

// newServer checks cfg (but Listen) and makes the handler: what a server
// and an Offer share. It returns the certificate to present.
func newServer(cfg ServerConfig) (*Server, tls.Certificate, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stall := cfg.StallTimeout
	switch {
	case stall < 0:
		return nil, tls.Certificate{}, fmt.Errorf("rpc server: negative StallTimeout %v", stall)
	case stall == 0:
		stall = DefaultStallTimeout
	}
	cert, err := selfSigned(cfg.Key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("rpc server: %w", err)
	}
	peers := make(map[identity.PublicKey]string, len(cfg.Peers))
	addressed := make(map[identity.PublicKey]bool, len(cfg.Peers))
	for _, p := range cfg.Peers {
		if p.Name == "" {
			return nil, tls.Certificate{}, fmt.Errorf("rpc server: peer with key %s has no name", p.Key)
		}
		if other, dup := peers[p.Key]; dup {
			return nil, tls.Certificate{}, fmt.Errorf("rpc server: peers %s and %s have the same key %s", other, p.Name, p.Key)
		}
		peers[p.Key] = p.Name
		addressed[p.Key] = p.Address != ""
	}
	s := &Server{
		log:          log,
		peers:        peers,
		addressed:    addressed,
		refused:      make(map[string]bool),
		refusedMax:   maxRefusedLogged,
		shutDone:     make(chan struct{}),
		trees:        newTreeCache(treeCacheBytes),
		stallTimeout: stall,
	}

	mux := http.NewServeMux()
	reqLog := newRequestLog(log)
	s.reqLog = reqLog
	if cfg.History != nil {
		mux.Handle(realv1connect.NewHistoryServiceHandler(
			&historyHandler{h: cfg.History, log: reqLog},
			connect.WithReadMaxBytes(MaxNotifyBytes),
		))
	}
	if cfg.Store != nil {
		mux.Handle(realv1connect.NewStoreServiceHandler(
			&storeHandler{s: cfg.Store, log: reqLog, trees: s.trees},
			connect.WithReadMaxBytes(maxSmallMessage),
			connect.WithSendMaxBytes(MaxTree+treeSlack), // a TreeResponse; Read chunks are far smaller
			connect.WithCompression("gzip", nil, nil),   // content is streamed as is
			connect.WithCodec(storeCodec{}),
		))
	}

	s.handler = s.authenticate(mux)
	return s, cert, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx is done or Shutdown is called; then it
// waits for the shutdown to finish and returns nil. Requests in flight see
// ctx cancelled.
func (s *Server) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("rpc server: Serve called twice")
	}
	s.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.Shutdown(sctx); err != nil {
			s.log.Warn("rpc server shutdown", "err", err)
		}
	})
	defer stop()
	s.log.Info("rpc server listening", "addr", s.ln.Addr().String(), "peers", len(s.peers))
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-s.shutDone
		return nil
	}
	return fmt.Errorf("rpc server on %s: %w", s.ln.Addr(), err)
}

// Shutdown stops accepting connections and waits for the requests in flight
// and the Tree hashing (cancelled) until ctx is done; then it closes what is
// left and returns an error wrapping ctx's. Once it returned nil, no
// Content is read any more and all are closed.
// It may be called before, during or after Serve, and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		s.trees.close() // hashing for Tree stops; its callers get Unavailable
		err := s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close()
		}
		s.ln.Close() // when Serve never ran
		// The hashing outlives its callers: wait until it has stopped
		// reading, so that the store can be closed after us.
		if werr := s.trees.wait(ctx); werr != nil && err == nil {
			err = fmt.Errorf("rpc server shutdown: %w", werr)
		}
		s.shutErr = err
		close(s.shutDone)
	})
	<-s.shutDone
	return s.shutErr
}

// verifyClient accepts a connection only from a configured peer's key.
func (s *Server) verifyClient(cs tls.ConnectionState, remote string) error {
	k, err := presentedKey(cs)
	if err == nil {
		if _, ok := s.peers[k]; ok {
			return nil
		}
		err = fmt.Errorf("%w: key %s is not a configured peer", ErrPeerKey, k)
		s.logRefused(k.String(), "refused connection from an unknown key", "remote", remote, "key", k.String())
		return err
	}
	host, _, _ := net.SplitHostPort(remote)
	s.logRefused("from "+host+": "+err.Error(), "refused connection", "remote", remote, "err", err)
	return err
}

// logRefused logs a refusal at Warn the first time for what, then at Debug,
// so a peer retrying with a wrong key does not flood the log. Past
// refusedMax distinct ones (keys made up one after the other), every
// refusal goes to Debug, after one warning that says so.
func (s *Server) logRefused(what, msg string, args ...any) {
	s.refusedMu.Lock()
	seen := s.refused[what] || len(s.refused) > s.refusedMax
	last := false
	if !seen {
		s.refused[what] = true
		last = len(s.refused) > s.refusedMax
		seen = last
	}
	s.refusedMu.Unlock()
	if last {
		s.log.Warn("rpc: further refused connections are logged at Debug", "distinct", s.refusedMax)
	}
	level := slog.LevelWarn
	if seen {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, msg, args...)
}

type peerKey struct{}

// caller is what authenticate stores in the request context: the peer's
// name, and whether a handler took the request (peerFrom).
type caller struct {
	name    string
	reached atomic.Bool
}

// authenticate puts the verified caller's peer name in the request context.
// A request refused before any handler took it (Connect could not decode
// it: not protobuf, a string that is not UTF-8, over the size limit) is
// logged here as the handlers log their refusals.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs := r.TLS
		if cs == nil { // an Offer's connection: HTTP/2 over TLS as cleartext to net/http
			cs, _ = r.Context().Value(offerTLSKey{}).(*tls.ConnectionState)
		}
		if cs == nil {
			http.Error(w, "TLS required", http.StatusForbidden)
			return
		}
		k, err := presentedKey(*cs)
		name, ok := s.peers[k]
		if err != nil || !ok {
			http.Error(w, "unknown peer", http.StatusForbidden)
			return
		}
		c := &caller{name: name}
		rw := &refusalWriter{ResponseWriter: w, caller: c}
		sw := newStallWriter(rw, http.NewResponseController(w), s.stallTimeout, s.log, name, r.URL.Path)
		defer sw.done() // before net/http takes its writer back
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), peerKey{}, c)))
		if !c.reached.Load() && (rw.status >= 400 || len(rw.body) > 0) {
			s.reqLog.unreached(r.URL.Path, name, rw.status, rw.reply())
		}
	})
}

// peerFrom returns the caller's peer name that authenticate stored, and
// marks the request as taken by a handler.
func peerFrom(ctx context.Context) string {
	c, _ := ctx.Value(peerKey{}).(*caller)
	if c == nil {
		return ""
	}
	c.reached.Store(true)
	return c.name
}

// maxRefusalBody is how much of an error reply authenticate keeps for the
// log.
const maxRefusalBody = 512

// refusalWriter passes a reply through, keeping its status and the start
// of its body while no handler took the request (a reply then is an error:
// an HTTP error, or a stream's end carrying one).
type refusalWriter struct {
	http.ResponseWriter
	caller *caller
	status int
	body   []byte
}

// reply is the kept body as text; a stream's end message (Connect's
// envelope) without its 5-byte prefix.
func (w *refusalWriter) reply() string {
	b := w.body
	if w.status == http.StatusOK && len(b) > 5 {
		b = b[5:]
	}
	return string(b)
}

func (w *refusalWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *refusalWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.caller.reached.Load() && len(w.body) < maxRefusalBody {
		w.body = append(w.body, p[:min(len(p), maxRefusalBody-len(w.body))]...)
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets Connect stream replies.
func (w *refusalWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serverHTTP2 is the HTTP/2 of every connection this peer serves on (its
// listener, and an Offer's reverse connection).
func serverHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{
		SendPingTimeout:           sendPingTimeout,
		PingTimeout:               pingTimeout,
		MaxReceiveBufferPerStream: 4 << 20,
	}
}
