package rpc

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// historyHandler serves HistoryService: it validates, then calls History.
type historyHandler struct {
	h   History
	log *slog.Logger
}

func (h *historyHandler) Arenas(ctx context.Context, _ *connect.Request[realv1.ArenasRequest]) (*connect.Response[realv1.ArenasResponse], error) {
	peer := peerFrom(ctx)
	arenas, progress, err := h.h.Arenas(ctx, peer)
	if err != nil {
		return nil, failed(h.log, "arenas", peer, err)
	}
	return connect.NewResponse(&realv1.ArenasResponse{Arenas: arenas, Progress: progress}), nil
}

func (h *historyHandler) Notify(ctx context.Context, req *connect.Request[realv1.NotifyRequest]) (*connect.Response[realv1.NotifyResponse], error) {
	peer := peerFrom(ctx)
	batch, err := decodeBatch(req.Msg, time.Now())
	if err != nil {
		return nil, failed(h.log, "notify", peer, err)
	}
	progress, err := h.h.Notify(ctx, peer, batch)
	if err != nil {
		return nil, failed(h.log, "notify", peer, err)
	}
	return connect.NewResponse(&realv1.NotifyResponse{Progress: progress}), nil
}

// failed maps a handler error to the wire and logs it: refused requests at
// Warn (the peer sent something wrong), internal errors at Error.
func failed(log *slog.Logger, op, peer string, err error) error {
	ce := toConnect(err)
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		log.Warn("rpc: refused request", "op", op, "peer", peer, "err", err)
	case connect.CodeInternal, connect.CodeUnknown:
		log.Error("rpc: request failed", "op", op, "peer", peer, "err", err)
	default:
		log.Debug("rpc: request failed", "op", op, "peer", peer, "code", ce.Code().String(), "err", err)
	}
	return ce
}
