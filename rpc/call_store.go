package rpc

import (
	"context"
	"fmt"
	"io"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// ReadAt reads len(p) bytes of arena/path at off from the peer, if the file
// there still is version b. It has io.ReaderAt semantics: n < len(p) comes
// with an error, io.EOF when the content ends first. A changed file gives
// ErrChanged, a missing one ErrNotFound. The bytes are not checked against b:
// that is for the reader, once it has the whole content.
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
		return 0, c.fail(ctx, op, err)
	}
	defer stream.Close()

	n, size := 0, int64(-1)
	for stream.Receive() {
		msg := stream.Msg()
		if size < 0 {
			size = msg.GetSize()
			if size < 0 {
				return 0, c.fail(ctx, op, fmt.Errorf("%w: reply: negative size %d", ErrInvalid, size))
			}
		}
		d := msg.GetData()
		if len(d) > MaxChunk {
			return n, c.fail(ctx, op, fmt.Errorf("%w: reply: chunk of %d bytes, at most %d", ErrInvalid, len(d), MaxChunk))
		}
		if len(d) > len(p)-n {
			return n, c.fail(ctx, op, fmt.Errorf("%w: reply: %d bytes more than asked for", ErrInvalid, len(d)-(len(p)-n)))
		}
		n += copy(p[n:], d)
	}
	if err := stream.Err(); err != nil {
		return n, c.fail(ctx, op, err)
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
