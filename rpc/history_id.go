package rpc

import (
	"context"
	"fmt"
)

// History ids: each store's history has a random id, drawn when the history
// begins (the daemon keeps it), so that a store that starts over (its
// real.db deleted, or made again with the same key) is told apart from the
// history its peers hold progress for. A caller sends its id with Arenas,
// Notify and Report (SetHistoryID); the callee learns it with
// CallerHistoryID. A Pull carries the callee's id the caller's progress
// stands for (Pull.HistoryID) and the reply the callee's (PullReply.HistoryID).
// An empty id comes from a peer that predates them and is not checked.

// MaxHistoryID is the longest history id accepted.
const MaxHistoryID = 64

// CheckHistoryID validates a history id: empty, or at most MaxHistoryID
// lowercase hex digits.
func CheckHistoryID(id string) error {
	if len(id) > MaxHistoryID {
		return fmt.Errorf("%w: history id of %d characters, at most %d", ErrInvalid, len(id), MaxHistoryID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: history id %q: not lowercase hex", ErrInvalid, id)
		}
	}
	return nil
}

type historyIDKey struct{}

func withCallerHistoryID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, historyIDKey{}, id)
}

// CallerHistoryID returns, in a History or Reporter method, the history id
// the calling peer sent with its request ("" from a peer that sends none).
func CallerHistoryID(ctx context.Context) string {
	id, _ := ctx.Value(historyIDKey{}).(string)
	return id
}

// SetHistoryID sets the history id this client sends with Arenas, Notify
// and Report. Call it before the first call.
func (c *Client) SetHistoryID(id string) {
	if err := CheckHistoryID(id); err != nil && c.err == nil {
		c.err = err
		return
	}
	c.historyID = id
}
