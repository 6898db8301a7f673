package rpc

import (
	"context"
	"errors"
	"fmt"
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
	res := &realv1.ArenasResponse{Arenas: arenas, Progress: progress}
	if rep, ok := h.h.(Reporter); ok {
		if res.CatchUp, err = rep.NeedsReport(ctx, peer); err != nil {
			return nil, failed(h.log, "arenas", peer, err)
		}
	}
	return connect.NewResponse(res), nil
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
	case connect.CodeInvalidArgument, connect.CodeOutOfRange:
		log.Warn("rpc: refused request", "op", op, "peer", peer, "err", err)
	case connect.CodeInternal, connect.CodeUnknown:
		log.Error("rpc: request failed", "op", op, "peer", peer, "err", err)
	default:
		log.Debug("rpc: request failed", "op", op, "peer", peer, "code", ce.Code().String(), "err", err)
	}
	return ce
}

func (h *historyHandler) Report(ctx context.Context, req *connect.Request[realv1.ReportRequest]) (*connect.Response[realv1.ReportResponse], error) {
	peer := peerFrom(ctx)
	rep, ok := h.h.(Reporter)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this peer takes no full reports"))
	}
	r, err := decodeReport(req.Msg, time.Now())
	if err != nil {
		return nil, failed(h.log, "report", peer, err)
	}
	if err := rep.Report(ctx, peer, r); err != nil {
		return nil, failed(h.log, "report", peer, err)
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
		return nil, failed(h.log, "pull", peer, err)
	}
	reply, err := src.Pull(ctx, peer, p)
	if err != nil {
		return nil, failed(h.log, "pull", peer, err)
	}
	res, err := encodePullReply(&reply, time.Now())
	if err != nil {
		return nil, failed(h.log, "pull", peer, fmt.Errorf("reply: %w", err))
	}
	return connect.NewResponse(res), nil
}
