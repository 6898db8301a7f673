package rpc

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/realsync/real/blob"
)

// Limits of StoreService.Tree.
const (
	// MaxTree bounds the outboard Tree serves: 16 MiB is the tree of
	// 262,144 chunks of 4 MiB, files up to 1 TiB. A larger content is
	// refused with ErrTooLarge.
	MaxTree = 16 << 20
	// treeSlack is room for the framing of a TreeResponse around the
	// outboard, in the message limits of both sides.
	treeSlack = 64
	// treeCacheBytes bounds the trees the server keeps (least recently
	// used out): 64 MiB is 4 trees of 1 TiB files, or 4,096 of 4 GiB ones.
	treeCacheBytes = 64 << 20
	// maxTreeComputes bounds the contents hashed at once for Tree.
	maxTreeComputes = 2
)

// treeCache keeps computed outboards by blob, bounded by their total size,
// and runs one computation per blob at a time: requests for a blob being
// hashed wait for that computation instead of hashing it again. A
// computation runs in its own goroutine, not bounded by the request that
// started it: a caller that gives up (a timeout) finds the tree ready when
// it asks again. Only the server stopping (close) cancels it once it has
// started; one still waiting for a slot when its last caller gives up is
// dropped (its file closed), so that the requests a peer gave up on do not
// keep the slots, and an open file each, from the requests still waiting.
// The server stopping waits for the computations to end (wait), so none
// reads a file after Shutdown returned.
type treeCache struct {
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	slots  chan struct{}  // maxTreeComputes tokens
	runs   sync.WaitGroup // computations started (tc.mu with closed)

	mu       sync.Mutex
	closed   bool       // no computation starts any more
	lru      *list.List // of *treeEntry, most recent first
	byBlob   map[blob.Hash]*list.Element
	bytes    int
	max      int
	inFlight map[blob.Hash]*treeCall
}

type treeEntry struct {
	b        blob.Hash
	outboard []byte
}

// treeCall is a computation in flight; done is closed when out, err are set.
type treeCall struct {
	done    chan struct{}
	out     []byte
	err     error
	waiters int // callers waiting for it (tc.mu)
}

// errTreeDropped is the result of a computation dropped before it started:
// nobody waited for it any more.
var errTreeDropped = errors.New("tree computation dropped: nobody waits for it")

func newTreeCache(max int) *treeCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &treeCache{
		ctx:      ctx,
		cancel:   cancel,
		slots:    make(chan struct{}, maxTreeComputes),
		lru:      list.New(),
		byBlob:   make(map[blob.Hash]*list.Element),
		max:      max,
		inFlight: make(map[blob.Hash]*treeCall),
	}
}

// close cancels the computations in flight; none starts after it.
func (tc *treeCache) close() {
	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()
	tc.cancel()
}

// wait waits until the computations (cancelled by close) have ended and
// closed their files, or ctx is done.
func (tc *treeCache) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		tc.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tree hashing still running: %w", ctx.Err())
	}
}

// compute returns the outboard of b: the cached one, the result of the
// computation in flight, or that of a new one, compute(ctx), to which c is
// handed over (the computation closes it; when the tree is cached, or
// came from a computation already running, c is closed here). ctx bounds
// only the wait of this caller. A computation already running reads
// another file of b (another path, or the same one opened earlier): when
// it fails (those bytes were not b: ErrChanged), this caller's own c is
// hashed rather than the other file's failure given as its answer.
func (tc *treeCache) compute(ctx context.Context, b blob.Hash, c Content, compute func(context.Context, Content) ([]byte, error)) ([]byte, error) {
	for {
		tc.mu.Lock()
		if e, ok := tc.byBlob[b]; ok {
			tc.lru.MoveToFront(e)
			tc.mu.Unlock()
			c.Close()
			return e.Value.(*treeEntry).outboard, nil
		}
		call, running := tc.inFlight[b]
		if !running {
			if tc.closed {
				tc.mu.Unlock()
				c.Close()
				return nil, fmt.Errorf("tree: %w", tc.ctx.Err())
			}
			call = &treeCall{done: make(chan struct{})}
			tc.inFlight[b] = call
			tc.runs.Add(1)
		}
		call.waiters++
		tc.mu.Unlock()
		if !running {
			go tc.run(b, call, c, compute)
			select {
			case <-call.done:
				return call.out, call.err
			case <-ctx.Done():
				tc.leave(call)
				return nil, ctx.Err()
			}
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			tc.leave(call)
			c.Close()
			return nil, ctx.Err()
		}
		if call.err == nil || tc.ctx.Err() != nil {
			c.Close()
			return call.out, call.err
		}
		// Another file's bytes failed: try ours.
	}
}

// leave tells that a caller of call gave up waiting.
func (tc *treeCache) leave(call *treeCall) {
	tc.mu.Lock()
	call.waiters--
	tc.mu.Unlock()
}

// run computes the tree of b once a slot is free, unless nobody waits for
// it any more then; caches it on success and wakes the waiters (a caller
// that joins a dropped computation computes it again, from its own file).
func (tc *treeCache) run(b blob.Hash, call *treeCall, c Content, compute func(context.Context, Content) ([]byte, error)) {
	defer tc.runs.Done()
	defer c.Close()
	select {
	case tc.slots <- struct{}{}:
		tc.mu.Lock()
		dropped := call.waiters == 0
		tc.mu.Unlock()
		if dropped {
			call.err = errTreeDropped
		} else {
			call.out, call.err = compute(tc.ctx, c)
		}
		<-tc.slots
	case <-tc.ctx.Done():
		call.err = tc.ctx.Err()
	}
	tc.mu.Lock()
	delete(tc.inFlight, b)
	if call.err == nil {
		tc.add(b, call.out)
	}
	tc.mu.Unlock()
	close(call.done)
}

// add caches outboard as b's, evicting the least recently used past max.
// tc.mu is held.
func (tc *treeCache) add(b blob.Hash, outboard []byte) {
	if len(outboard) > tc.max {
		return
	}
	if _, ok := tc.byBlob[b]; ok {
		return
	}
	tc.byBlob[b] = tc.lru.PushFront(&treeEntry{b: b, outboard: outboard})
	tc.bytes += len(outboard)
	for tc.bytes > tc.max {
		last := tc.lru.Back()
		e := last.Value.(*treeEntry)
		tc.lru.Remove(last)
		delete(tc.byBlob, e.b)
		tc.bytes -= len(e.outboard)
	}
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   interface{ Read([]byte) (int, error) }
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
