package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"connectrpc.com/connect"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// storeHandler serves StoreService: it validates, opens the content in the
// Store and streams the range in chunks of at most MaxChunk bytes (Read), or
// answers its tree (Tree, handle_tree.go).
type storeHandler struct {
	s     Store
	log   *requestLog
	trees *treeCache
}

func (h *storeHandler) Read(ctx context.Context, req *connect.Request[realv1.ReadRequest], stream *connect.ServerStream[realv1.ReadResponse]) error {
	peer := peerFrom(ctx)
	if err := h.read(ctx, peer, req, stream); err != nil {
		return h.log.failed("read", peer, err)
	}
	return nil
}

func (h *storeHandler) read(ctx context.Context, peer string, creq *connect.Request[realv1.ReadRequest], stream *connect.ServerStream[realv1.ReadResponse]) error {
	req := creq.Msg
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
	if off >= size && req.GetLength() > 0 {
		return fmt.Errorf("%w: read %s at %d: the content has %d bytes", ErrOutOfRange, name, off, size)
	}
	end := off
	if off < size {
		end = off + min(req.GetLength(), size-off)
	}
	// The first message always goes out: it carries the size. With
	// protobuf (every real peer) storeCodec reads each chunk from c straight
	// into the message buffer; a JSON caller gets ReadResponse messages.
	send := sendVia(stream)
	if strings.Contains(creq.Header().Get("Content-Type"), "json") {
		send = sendJSON(stream)
	}
	msg := &outChunk{c: c, size: size}
	for first := true; first || off < end; first = false {
		msg.off, msg.n = off, int(min(MaxChunk, end-off))
		err := send(msg)
		if msg.err != nil && (msg.got == 0 || !errors.Is(msg.err, io.EOF)) {
			if errors.Is(msg.err, io.EOF) {
				return fmt.Errorf("%w: %s ended at %d of %d bytes", ErrChanged, name, off, size)
			}
			return fmt.Errorf("read %s at %d: %w", name, off, msg.err)
		}
		if err != nil {
			return err
		}
		msg.size = 0
		off += int64(msg.got)
	}
	return nil
}

// sendVia sends chunks through storeCodec, which reads them as it encodes.
func sendVia(stream *connect.ServerStream[realv1.ReadResponse]) func(*outChunk) error {
	conn := stream.Conn()
	return func(m *outChunk) error { return conn.Send(m) }
}

// sendJSON reads each chunk into a buffer and sends it as a ReadResponse.
func sendJSON(stream *connect.ServerStream[realv1.ReadResponse]) func(*outChunk) error {
	var buf []byte
	return func(m *outChunk) error {
		m.got, m.err = 0, nil
		if m.n > 0 {
			buf = slices.Grow(buf[:0], m.n)[:m.n]
			if !m.fill(buf) {
				return errChunkRead
			}
		}
		return stream.Send(&realv1.ReadResponse{Data: buf[:m.got], Size: m.size})
	}
}
