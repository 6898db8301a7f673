package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// ReadAt reads len(p) bytes of arena/path at off from the peer, if the file
// there still is version b. It has io.ReaderAt semantics: n < len(p) comes
// with an error, io.EOF when the content ends first (the peer refuses a read
// starting at or past the end with OutOfRange: that is io.EOF and n = 0
// here). A changed file gives
// ErrChanged, a missing one ErrNotFound. The bytes are not checked against b:
// that is for the reader, once it has the whole content. Under a context of
// WithProgress, each reply message is reported as it arrives.
func (c *Client) ReadAt(ctx context.Context, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	op := "read " + arena + "/" + path
	if c.err != nil {
		return 0, c.fail(ctx, op, c.err)
	}
	req := &realv1.ReadRequest{Arena: arena, Path: path, Blob: b.Bytes(), Offset: off, Length: int64(len(p))}
	if _, err := checkRead(req); err != nil {
		return 0, c.fail(ctx, op, err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.store.Read(ctx, connect.NewRequest(req))
	if err != nil {
		return 0, c.readFailed(ctx, op, err)
	}
	defer stream.Close()
	conn, err := stream.Conn()
	if err != nil {
		return 0, c.fail(ctx, op, err)
	}

	// storeCodec copies each chunk straight into p.
	progress := progressOf(ctx)
	n, size := 0, int64(-1)
	var msg inChunk
	for {
		// An empty message does not reach the codec: reset it here.
		msg = inChunk{dst: p[n:]}
		if err := conn.Receive(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if n == 0 && size < 0 {
				return 0, c.readFailed(ctx, op, err)
			}
			return n, c.fail(ctx, op, err)
		}
		if size < 0 {
			size = msg.size
			if size < 0 {
				return 0, c.fail(ctx, op, fmt.Errorf("%w: reply: negative size %d", ErrInvalid, size))
			}
		}
		if msg.n > MaxChunk {
			return n, c.fail(ctx, op, fmt.Errorf("%w: reply: chunk of %d bytes, at most %d", ErrInvalid, msg.n, MaxChunk))
		}
		if msg.n > len(p)-n {
			return n, c.fail(ctx, op, fmt.Errorf("%w: reply: %d bytes more than asked for", ErrInvalid, msg.n-(len(p)-n)))
		}
		n += msg.n
		if progress != nil && msg.n > 0 {
			progress(msg.n)
		}
	}
	if size < 0 {
		return n, c.fail(ctx, op, fmt.Errorf("%w: reply: empty stream", ErrInvalid))
	}
	want := int64(len(p))
	if rest := size - off; rest < want {
		want = max(rest, 0)
	}
	if int64(n) != want {
		return n, c.fail(ctx, op, fmt.Errorf("%w: reply: %d bytes of %d", ErrInvalid, n, want))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readFailed is fail for an error before any reply: the peer's refusal of a
// read starting at or past the end is io.EOF, as io.ReaderAt has it.
func (c *Client) readFailed(ctx context.Context, op string, err error) error {
	if errors.Is(fromConnect(err), ErrOutOfRange) {
		return io.EOF
	}
	return c.fail(ctx, op, err)
}
