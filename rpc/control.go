package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// Status is what ControlService.Status tells about a running peer.
type Status struct {
	Name          string
	Arenas        []string
	History       uint64 // index of the last entry of this peer's history
	Trimmed       uint64 // entries up to this index were trimmed
	IndexRows     uint64
	UnrealEntries uint64
	Started       time.Time
	Peers         []PeerStatus
}

// PeerStatus is the conversation with one other peer.
type PeerStatus struct {
	Name, Address        string
	Connected            bool
	LastContact          time.Time // zero: never
	Acked, Pending       uint64    // our entries the peer acknowledged / not yet
	Received             uint64    // last index of the peer's history applied here
	SentSinceStart       uint64
	ReceivedSinceStart   uint64
	DuplicatesSinceStart uint64
	ReportsSent          uint64
	ReportsReceived      uint64
	LastError            string
	Reverse              bool // a reverse connection with the peer is up (ReverseProto)
}

// Control is implemented by the daemon for ControlService.
type Control interface {
	Status(ctx context.Context) (Status, error)
	// History returns up to limit entries of this peer's history after
	// index after, and the index up to which history was trimmed.
	History(ctx context.Context, after uint64, limit int) ([]history.Entry, uint64, error)
}

// ControlName is the file name of the control socket in a store.
const ControlName = "control.sock"

// ErrControlInUse: another process serves the control socket.
var ErrControlInUse = errors.New("control socket in use: is this store's peer already running?")

// ControlServer serves ControlService (Connect, gRPC, gRPC-Web) and gRPC
// server reflection over h2c on a Unix socket of mode 0600.
type ControlServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
	once sync.Once
	done chan struct{} // closed when Shutdown finished
}

// ListenControl listens on the Unix socket path, replacing a stale socket
// that nothing answers on. The socket is made under a temporary name,
// restricted to mode 0600 and then renamed into place, so it is never
// reachable by others.
func ListenControl(path string, c Control, log *slog.Logger) (*ControlServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %s", ErrControlInUse, path)
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d", filepath.Base(path), os.Getpid()))
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(realv1connect.NewControlServiceHandler(&controlHandler{c: c, log: newRequestLog(log)}))
	reflector := grpcreflect.NewStaticReflector(realv1connect.ControlServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	protos.SetHTTP1(true) // curl and Connect's JSON over HTTP/1.1 work too
	s := &ControlServer{path: path, ln: ln, log: log, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		Protocols:         &protos,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	return s, nil
}

// Path is the socket's path.
func (s *ControlServer) Path() string { return s.path }

// Serve serves until ctx is done, then shuts down and removes the socket.
func (s *ControlServer) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		s.Shutdown(sctx)
	})
	defer stop()
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-s.done
		return nil
	}
	return fmt.Errorf("control socket %s: %w", s.path, err)
}

// Shutdown stops serving and removes the socket.
func (s *ControlServer) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close()
		}
		s.ln.Close()
		os.Remove(s.path)
		close(s.done)
	})
	<-s.done
	return err
}

type controlHandler struct {
	c   Control
	log *requestLog
}

func (h *controlHandler) Status(ctx context.Context, _ *connect.Request[realv1.StatusRequest]) (*connect.Response[realv1.StatusResponse], error) {
	st, err := h.c.Status(ctx)
	if err != nil {
		return nil, h.log.failed("status", "control", err)
	}
	res := &realv1.StatusResponse{Name: st.Name, Arenas: st.Arenas, History: st.History, Trimmed: st.Trimmed,
		IndexRows: st.IndexRows, UnrealEntries: st.UnrealEntries, Started: nanos(st.Started)}
	for _, p := range st.Peers {
		res.Peers = append(res.Peers, &realv1.PeerStatus{
			Name: p.Name, Address: p.Address, Connected: p.Connected, LastContact: nanos(p.LastContact),
			Acked: p.Acked, Pending: p.Pending, Received: p.Received,
			SentSinceStart: p.SentSinceStart, ReceivedSinceStart: p.ReceivedSinceStart,
			DuplicatesSinceStart: p.DuplicatesSinceStart, ReportsSent: p.ReportsSent,
			ReportsReceived: p.ReportsReceived, LastError: p.LastError, Reverse: p.Reverse,
		})
	}
	return connect.NewResponse(res), nil
}

func (h *controlHandler) History(ctx context.Context, req *connect.Request[realv1.HistoryRequest]) (*connect.Response[realv1.HistoryResponse], error) {
	limit := int(req.Msg.GetLimit())
	if limit == 0 {
		limit = 1000
	}
	if limit > MaxBatch {
		return nil, h.log.failed("history", "control", fmt.Errorf("%w: limit %d, at most %d", ErrInvalid, limit, MaxBatch))
	}
	es, trimmed, err := h.c.History(ctx, req.Msg.GetAfter(), limit)
	if err != nil {
		return nil, h.log.failed("history", "control", err)
	}
	return connect.NewResponse(&realv1.HistoryResponse{Notifications: entriesToWire(es), Trimmed: trimmed}), nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ControlClient calls a running peer's control socket.
type ControlClient struct {
	path      string
	transport *http.Transport
	c         realv1connect.ControlServiceClient
}

// DialControl makes a client of the control socket at path; it connects at
// the first call. Calls fail with ErrUnavailable when nothing serves there.
func DialControl(path string) *ControlClient {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		Protocols: &protos,
	}
	return &ControlClient{path: path, transport: tr,
		c: realv1connect.NewControlServiceClient(&http.Client{Transport: tr}, "http://control", connect.WithReadMaxBytes(MaxNotifyBytes))}
}

// Close drops the connection.
func (c *ControlClient) Close() { c.transport.CloseIdleConnections() }

func (c *ControlClient) fail(op string, err error) error {
	err = fromConnect(err)
	if connect.CodeOf(err) == connect.CodeUnavailable && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("control socket %s: %s: %w", c.path, op, err)
}

// Status asks the running peer for its status.
func (c *ControlClient) Status(ctx context.Context) (Status, error) {
	res, err := c.c.Status(ctx, connect.NewRequest(&realv1.StatusRequest{}))
	if err != nil {
		return Status{}, c.fail("status", err)
	}
	m := res.Msg
	st := Status{Name: m.GetName(), Arenas: m.GetArenas(), History: m.GetHistory(), Trimmed: m.GetTrimmed(),
		IndexRows: m.GetIndexRows(), UnrealEntries: m.GetUnrealEntries(), Started: fromNanos(m.GetStarted())}
	for _, p := range m.GetPeers() {
		st.Peers = append(st.Peers, PeerStatus{
			Name: p.GetName(), Address: p.GetAddress(), Connected: p.GetConnected(), LastContact: fromNanos(p.GetLastContact()),
			Acked: p.GetAcked(), Pending: p.GetPending(), Received: p.GetReceived(),
			SentSinceStart: p.GetSentSinceStart(), ReceivedSinceStart: p.GetReceivedSinceStart(),
			DuplicatesSinceStart: p.GetDuplicatesSinceStart(), ReportsSent: p.GetReportsSent(),
			ReportsReceived: p.GetReportsReceived(), LastError: p.GetLastError(), Reverse: p.GetReverse(),
		})
	}
	return st, nil
}

// History lists the running peer's history after index after.
func (c *ControlClient) History(ctx context.Context, after uint64, limit int) ([]history.Entry, uint64, error) {
	if limit < 0 || limit > MaxBatch {
		return nil, 0, fmt.Errorf("%w: history limit %d, at most %d", ErrInvalid, limit, MaxBatch)
	}
	res, err := c.c.History(ctx, connect.NewRequest(&realv1.HistoryRequest{After: after, Limit: uint32(limit)}))
	if err != nil {
		return nil, 0, c.fail("history", err)
	}
	batch, err := decodeBatch(&realv1.NotifyRequest{Notifications: res.Msg.GetNotifications()}, time.Now())
	if err != nil {
		return nil, 0, c.fail("history", err)
	}
	return batch, res.Msg.GetTrimmed(), nil
}
