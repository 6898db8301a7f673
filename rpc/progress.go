package rpc

import "context"

// progressKey carries the progress callback of WithProgress.
type progressKey struct{}

// WithProgress returns a context under which Client.ReadAt calls fn(n) for
// every reply message as it arrives, n being its content bytes (at most
// MaxChunk), before it waits for the next one. A caller uses it to bound a
// long read by silence rather than by its whole duration (the Unreal's
// FetchTimeout is such an idle bound). fn runs on the reading goroutine: it
// must be quick and must not call back into the client.
func WithProgress(ctx context.Context, fn func(n int)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// progressOf is the callback WithProgress put in ctx, or nil.
func progressOf(ctx context.Context) func(int) {
	fn, _ := ctx.Value(progressKey{}).(func(int))
	return fn
}
