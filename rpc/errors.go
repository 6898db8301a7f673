package rpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// Sentinels that cross the wire. Handlers (History, Store) wrap them; the
// server maps them to Connect codes and the client maps them back, so
// errors.Is(err, ErrChanged) holds on the caller's side too.
var (
	ErrInvalid      = errors.New("invalid request")  // InvalidArgument
	ErrNotFound     = errors.New("not found")        // NotFound
	ErrChanged      = errors.New("content changed")  // FailedPrecondition (or Aborted)
	ErrUnknownArena = errors.New("unknown arena")    // InvalidArgument, told apart by an ErrorInfo detail
	ErrUnavailable  = errors.New("peer unavailable") // Unavailable: unreachable, shutting down, retry later
	ErrPeerKey      = errors.New("key not accepted") // one side presented a key the other does not pin
	// ErrOutOfRange is a read starting at or past the end of the content
	// (OutOfRange). Client.ReadAt turns it into io.EOF, as io.ReaderAt has it.
	ErrOutOfRange = errors.New("read past the end")
	// ErrTooLarge is a request for more than the protocol serves, such as
	// the tree of a content whose outboard would exceed MaxTree
	// (ResourceExhausted).
	ErrTooLarge = errors.New("too large")
)

// classify maps a handler error to its Connect code and wire reason.
func classify(err error) (connect.Code, realv1.Reason) {
	switch {
	case errors.Is(err, ErrUnknownArena):
		return connect.CodeInvalidArgument, realv1.Reason_REASON_UNKNOWN_ARENA
	case errors.Is(err, ErrInvalid):
		return connect.CodeInvalidArgument, realv1.Reason_REASON_INVALID
	case errors.Is(err, ErrNotFound):
		return connect.CodeNotFound, realv1.Reason_REASON_NOT_FOUND
	case errors.Is(err, ErrChanged):
		return connect.CodeFailedPrecondition, realv1.Reason_REASON_CHANGED
	case errors.Is(err, ErrUnavailable):
		return connect.CodeUnavailable, realv1.Reason_REASON_UNAVAILABLE
	case errors.Is(err, ErrOutOfRange):
		return connect.CodeOutOfRange, realv1.Reason_REASON_OUT_OF_RANGE
	case errors.Is(err, ErrTooLarge):
		return connect.CodeResourceExhausted, realv1.Reason_REASON_TOO_LARGE
	case errors.Is(err, context.Canceled):
		// The caller that cancelled does not read the reply: a handler sees
		// Canceled that the caller still waits for when this server stops.
		return connect.CodeUnavailable, realv1.Reason_REASON_UNAVAILABLE
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded, realv1.Reason_REASON_UNSPECIFIED
	}
	return connect.CodeInternal, realv1.Reason_REASON_UNSPECIFIED
}

// toConnect turns a handler error into the error a handler returns to
// connect: the code of its sentinel, its text, and an ErrorInfo detail.
func toConnect(err error) *connect.Error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	code, reason := classify(err)
	ce = connect.NewError(code, err)
	if reason != realv1.Reason_REASON_UNSPECIFIED {
		if d, derr := connect.NewErrorDetail(&realv1.ErrorInfo{Reason: reason}); derr == nil {
			ce.AddDetail(d)
		}
	}
	return ce
}

var byReason = map[realv1.Reason]error{
	realv1.Reason_REASON_INVALID:       ErrInvalid,
	realv1.Reason_REASON_NOT_FOUND:     ErrNotFound,
	realv1.Reason_REASON_CHANGED:       ErrChanged,
	realv1.Reason_REASON_UNKNOWN_ARENA: ErrUnknownArena,
	realv1.Reason_REASON_UNAVAILABLE:   ErrUnavailable,
	realv1.Reason_REASON_OUT_OF_RANGE:  ErrOutOfRange,
	realv1.Reason_REASON_TOO_LARGE:     ErrTooLarge,
}

var byCode = map[connect.Code]error{
	connect.CodeInvalidArgument:    ErrInvalid,
	connect.CodeNotFound:           ErrNotFound,
	connect.CodeFailedPrecondition: ErrChanged,
	connect.CodeAborted:            ErrChanged,
	connect.CodeUnavailable:        ErrUnavailable,
	connect.CodeOutOfRange:         ErrOutOfRange,
	connect.CodeResourceExhausted:  ErrTooLarge,
}

// remoteError is an error the client got: its text is the Connect error's,
// and it matches both the sentinel and the Connect error (hence context
// errors and transport errors it wraps).
type remoteError struct {
	sentinel error
	err      error
}

func (e *remoteError) Error() string   { return e.err.Error() }
func (e *remoteError) Unwrap() []error { return []error{e.sentinel, e.err} }

// fromConnect maps an error from a generated client back to a sentinel.
func fromConnect(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	var sentinel error
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*realv1.ErrorInfo); ok {
				sentinel = byReason[info.GetReason()]
			}
		}
	}
	if sentinel == nil {
		sentinel = byCode[ce.Code()]
	}
	if sentinel == nil {
		return err
	}
	return &remoteError{sentinel: sentinel, err: err}
}
