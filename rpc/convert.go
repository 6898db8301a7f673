package rpc

import (
	"fmt"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/tree"
)

// The range of mtimes that Unix nanoseconds in an int64 can carry.
var (
	minMtime = time.Unix(0, -1<<63)
	maxMtime = time.Unix(0, 1<<63-1)
)

var kindToWire = map[history.Kind]realv1.Kind{
	history.Link:      realv1.Kind_KIND_LINK,
	history.Available: realv1.Kind_KIND_AVAILABLE,
	history.Unlink:    realv1.Kind_KIND_UNLINK,
	history.Drop:      realv1.Kind_KIND_DROP,
}

var kindFromWire = map[realv1.Kind]history.Kind{
	realv1.Kind_KIND_LINK:      history.Link,
	realv1.Kind_KIND_AVAILABLE: history.Available,
	realv1.Kind_KIND_UNLINK:    history.Unlink,
	realv1.Kind_KIND_DROP:      history.Drop,
}

// toWire converts a checked entry. A zero Mtime travels as 0 (the epoch).
func toWire(e *history.Entry) *realv1.Notification {
	var mtime int64
	if !e.Mtime.IsZero() {
		mtime = e.Mtime.UnixNano()
	}
	return &realv1.Notification{
		Index:    e.Index,
		Kind:     kindToWire[e.Kind],
		Arena:    e.Arena,
		Path:     e.Path,
		Mtime:    mtime,
		Size:     e.Size,
		Blob:     e.Blob.Bytes(),
		PrevBlob: e.PrevBlob.Bytes(),
	}
}

// fromWire converts a received notification; an unknown kind becomes a
// history.Kind that Entry.Check refuses.
func fromWire(n *realv1.Notification) (history.Entry, error) {
	k, ok := kindFromWire[n.GetKind()]
	if !ok {
		k = history.Kind(n.GetKind())
	}
	e := history.Entry{
		Index: n.GetIndex(),
		Kind:  k,
		Arena: n.GetArena(),
		Path:  n.GetPath(),
		Mtime: time.Unix(0, n.GetMtime()),
		Size:  n.GetSize(),
	}
	var err error
	if e.Blob, err = blob.FromBytes(n.GetBlob()); err != nil {
		return e, fmt.Errorf("%s %q: blob: %w", e.Kind, e.Path, err)
	}
	if e.PrevBlob, err = blob.FromBytes(n.GetPrevBlob()); err != nil {
		return e, fmt.Errorf("%s %q: prev_blob: %w", e.Kind, e.Path, err)
	}
	return e, nil
}

// checkBatch validates a batch as the receiver would: its size, indexes
// (non-zero, strictly increasing) and every entry (Entry.Check).
func checkBatch(batch []history.Entry, now time.Time) error {
	if len(batch) > MaxBatch {
		return fmt.Errorf("%w: batch of %d notifications, at most %d", ErrInvalid, len(batch), MaxBatch)
	}
	for i := range batch {
		e := &batch[i]
		if err := checkEntry(e, now); err != nil {
			return fmt.Errorf("%w: notification %d (index %d): %w", ErrInvalid, i, e.Index, err)
		}
		if i > 0 && e.Index <= batch[i-1].Index {
			return fmt.Errorf("%w: notification %d: index %d after %d, indexes must increase", ErrInvalid, i, e.Index, batch[i-1].Index)
		}
	}
	return nil
}

func checkEntry(e *history.Entry, now time.Time) error {
	if e.Index == 0 {
		return fmt.Errorf("%s %q: index 0", e.Kind, e.Path)
	}
	if !e.Mtime.IsZero() && (e.Mtime.Before(minMtime) || e.Mtime.After(maxMtime)) {
		return fmt.Errorf("%s %q: mtime %s out of range", e.Kind, e.Path, e.Mtime)
	}
	return e.Check(now)
}

// encodeBatch checks a batch to send and converts it.
func encodeBatch(batch []history.Entry, now time.Time) (*realv1.NotifyRequest, error) {
	if err := checkBatch(batch, now); err != nil {
		return nil, err
	}
	req := &realv1.NotifyRequest{Notifications: make([]*realv1.Notification, len(batch))}
	for i := range batch {
		req.Notifications[i] = toWire(&batch[i])
	}
	return req, nil
}

// decodeBatch converts and validates a received batch.
func decodeBatch(req *realv1.NotifyRequest, now time.Time) ([]history.Entry, error) {
	ns := req.GetNotifications()
	if len(ns) > MaxBatch {
		return nil, fmt.Errorf("%w: batch of %d notifications, at most %d", ErrInvalid, len(ns), MaxBatch)
	}
	batch := make([]history.Entry, len(ns))
	for i, n := range ns {
		e, err := fromWire(n)
		if err != nil {
			return nil, fmt.Errorf("%w: notification %d (index %d): %w", ErrInvalid, i, n.GetIndex(), err)
		}
		batch[i] = e
	}
	if err := checkBatch(batch, now); err != nil {
		return nil, err
	}
	return batch, nil
}

// checkRead validates a read request (either side) and returns its blob.
func checkRead(req *realv1.ReadRequest) (blob.Hash, error) {
	if err := tree.CheckArena(req.GetArena()); err != nil {
		return blob.Hash{}, fmt.Errorf("%w: read: %w", ErrInvalid, err)
	}
	if err := tree.CheckPath(req.GetPath()); err != nil {
		return blob.Hash{}, fmt.Errorf("%w: read %s: %w", ErrInvalid, req.GetArena(), err)
	}
	b, err := blob.FromBytes(req.GetBlob())
	if err != nil {
		return b, fmt.Errorf("%w: read %s/%s: %w", ErrInvalid, req.GetArena(), req.GetPath(), err)
	}
	if b.IsZero() {
		return b, fmt.Errorf("%w: read %s/%s: no blob given", ErrInvalid, req.GetArena(), req.GetPath())
	}
	if req.GetOffset() < 0 || req.GetLength() < 0 {
		return b, fmt.Errorf("%w: read %s/%s: negative range %d+%d", ErrInvalid, req.GetArena(), req.GetPath(), req.GetOffset(), req.GetLength())
	}
	return b, nil
}
