package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"connectrpc.com/connect"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// storeHandler serves StoreService: it validates, opens the content in the
// Store and streams the range in chunks of at most MaxChunk bytes.
type storeHandler struct {
	s   Store
	log *slog.Logger
}

func (h *storeHandler) Read(ctx context.Context, req *connect.Request[realv1.ReadRequest], stream *connect.ServerStream[realv1.ReadResponse]) error {
	peer := peerFrom(ctx)
	if err := h.read(ctx, peer, req.Msg, stream); err != nil {
		return failed(h.log, "read", peer, err)
	}
	return nil
}

func (h *storeHandler) read(ctx context.Context, peer string, req *realv1.ReadRequest, stream *connect.ServerStream[realv1.ReadResponse]) error {
	b, err := checkRead(req)
	if err != nil {
		return err
	}
	name := req.GetArena() + "/" + req.GetPath()
	c, err := h.s.Open(ctx, peer, req.GetArena(), req.GetPath(), b)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer c.Close()

	size := c.Size()
	off := req.GetOffset()
	end := off
	if off < size {
		end = off + min(req.GetLength(), size-off)
	}
	// The first message always goes out: it carries the size.
	msg := &realv1.ReadResponse{Size: size}
	buf := make([]byte, min(MaxChunk, end-off))
	for first := true; first || off < end; first = false {
		n := 0
		if off < end {
			n, err = c.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if n == 0 && err == nil {
				err = io.ErrNoProgress
			}
			if err != nil && (n == 0 || !errors.Is(err, io.EOF)) {
				if errors.Is(err, io.EOF) {
					return fmt.Errorf("%w: %s ended at %d of %d bytes", ErrChanged, name, off, size)
				}
				return fmt.Errorf("read %s at %d: %w", name, off, err)
			}
		}
		msg.Data = buf[:n]
		if err := stream.Send(msg); err != nil {
			return err
		}
		msg.Size = 0
		off += int64(n)
	}
	return nil
}
