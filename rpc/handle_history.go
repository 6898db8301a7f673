package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// historyHandler serves HistoryService: it validates, then calls History.
type historyHandler struct {
	h   History
	log *requestLog
}

func (h *historyHandler) Arenas(ctx context.Context, req *connect.Request[realv1.ArenasRequest]) (*connect.Response[realv1.ArenasResponse], error) {
	peer := peerFrom(ctx)
	ctx, err := callerHistory(ctx, req.Msg.GetHistoryId())
	if err != nil {
		return nil, h.log.failed("arenas", peer, err)
	}
	arenas, progress, err := h.h.Arenas(ctx, peer)
	if err != nil {
		return nil, h.log.failed("arenas", peer, err)
	}
	res := &realv1.ArenasResponse{Arenas: arenas, Progress: progress}
	if ch, ok := h.h.(Chainer); ok && progress > 0 {
		c, err := ch.ProgressChain(ctx, peer)
		if err != nil {
			return nil, h.log.failed("arenas", peer, err)
		}
		res.Chain = chainToWire(c)
	}
	if rep, ok := h.h.(Reporter); ok {
		if res.CatchUp, err = rep.NeedsReport(ctx, peer); err != nil {
			return nil, h.log.failed("arenas", peer, err)
		}
	}
	return connect.NewResponse(res), nil
}

func (h *historyHandler) Notify(ctx context.Context, req *connect.Request[realv1.NotifyRequest]) (*connect.Response[realv1.NotifyResponse], error) {
	peer := peerFrom(ctx)
	ctx, err := callerHistory(ctx, req.Msg.GetHistoryId())
	if err != nil {
		return nil, h.log.failed("notify", peer, err)
	}
	batch, err := decodeBatch(req.Msg, time.Now())
	if err != nil {
		return nil, h.log.failed("notify", peer, err)
	}
	chain, err := chainFromWire(req.Msg.GetChain())
	if err != nil {
		return nil, h.log.failed("notify", peer, err)
	}
	ctx = context.WithValue(ctx, chainKey{}, chain)
	progress, err := h.h.Notify(ctx, peer, batch)
	if err != nil {
		return nil, h.log.failed("notify", peer, err)
	}
	return connect.NewResponse(&realv1.NotifyResponse{Progress: progress}), nil
}

// requestLog logs failed requests: refusals (the peer sent something
// wrong) at Warn, internal errors at Error, the rest at Debug. A refusal
// seen before (same peer, operation and message: a peer retrying the same
// bad batch) goes to Debug, so each is logged once; and past
// maxRefusedPerPeer warnings for one peer (a peer sending a new bad request
// each time) its refusals go to Debug too, after one warning that says so.
type requestLog struct {
	log    *slog.Logger
	mu     sync.Mutex
	seen   map[string]bool
	warned map[string]int // warnings logged per peer
}

func newRequestLog(log *slog.Logger) *requestLog {
	return &requestLog{log: log, seen: make(map[string]bool), warned: make(map[string]int)}
}

// failed maps a handler error to the wire and logs it.
func (l *requestLog) failed(op, peer string, err error) error {
	ce := toConnect(err)
	switch ce.Code() {
	case connect.CodeInvalidArgument, connect.CodeOutOfRange, connect.CodeResourceExhausted:
		level, last := l.refusalLevel(peer, peer+"\x00"+op+"\x00"+err.Error())
		l.log.Log(context.Background(), level, "rpc: refused request", "op", op, "peer", peer, "err", err)
		if last {
			l.log.Warn("rpc: further refusals of this peer's requests are logged at Debug", "peer", peer, "warnings", maxRefusedPerPeer)
		}
	case connect.CodeInternal, connect.CodeUnknown:
		l.log.Error("rpc: request failed", "op", op, "peer", peer, "err", err)
	default:
		l.log.Debug("rpc: request failed", "op", op, "peer", peer, "code", ce.Code().String(), "err", err)
	}
	return ce
}

// unreached logs a request of peer to procedure that Connect refused
// before a handler took it, with the HTTP status and the start of the
// reply (Connect's error).
func (l *requestLog) unreached(procedure, peer string, status int, reply string) {
	err := fmt.Sprintf("HTTP %d: %s", status, reply)
	level, last := l.refusalLevel(peer, peer+"\x00"+procedure+"\x00"+err)
	l.log.Log(context.Background(), level, "rpc: refused request", "op", procedure, "peer", peer, "err", err)
	if last {
		l.log.Warn("rpc: further refusals of this peer's requests are logged at Debug", "peer", peer, "warnings", maxRefusedPerPeer)
	}
}

// refusalLevel tells at what level to log the refusal what of peer: Debug
// when it was logged before (up to maxRefusedLogged distinct refusals are
// remembered) or peer had its maxRefusedPerPeer warnings already. last is
// true for peer's last warning.
func (l *requestLog) refusalLevel(peer, what string) (level slog.Level, last bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[what] || l.warned[peer] >= maxRefusedPerPeer {
		return slog.LevelDebug, false
	}
	if len(l.seen) < maxRefusedLogged {
		l.seen[what] = true
	}
	l.warned[peer]++
	return slog.LevelWarn, l.warned[peer] == maxRefusedPerPeer
}

func (h *historyHandler) Report(ctx context.Context, req *connect.Request[realv1.ReportRequest]) (*connect.Response[realv1.ReportResponse], error) {
	peer := peerFrom(ctx)
	rep, ok := h.h.(Reporter)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this peer takes no full reports"))
	}
	ctx, err := callerHistory(ctx, req.Msg.GetHistoryId())
	if err != nil {
		return nil, h.log.failed("report", peer, err)
	}
	r, err := decodeReport(req.Msg, time.Now())
	if err != nil {
		return nil, h.log.failed("report", peer, err)
	}
	if err := rep.Report(ctx, peer, r); err != nil {
		return nil, h.log.failed("report", peer, err)
	}
	return connect.NewResponse(&realv1.ReportResponse{}), nil
}

func (h *historyHandler) Pull(ctx context.Context, req *connect.Request[realv1.PullRequest]) (*connect.Response[realv1.PullResponse], error) {
	peer := peerFrom(ctx)
	src, ok := h.h.(Source)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this peer serves no pulls"))
	}
	p, err := decodePull(req.Msg)
	if err != nil {
		return nil, h.log.failed("pull", peer, err)
	}
	reply, err := src.Pull(ctx, peer, p)
	if err != nil {
		return nil, h.log.failed("pull", peer, err)
	}
	res, err := encodePullReply(&reply, time.Now())
	if err != nil {
		return nil, h.log.failed("pull", peer, fmt.Errorf("reply: %w", err))
	}
	return connect.NewResponse(res), nil
}

// callerHistory checks the history id a request carries and puts it in ctx
// (CallerHistoryID).
func callerHistory(ctx context.Context, id string) (context.Context, error) {
	if err := CheckHistoryID(id); err != nil {
		return ctx, err
	}
	return withCallerHistoryID(ctx, id), nil
}
