package unreal

import (
	"context"
	"fmt"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/tree"
)

// Verification of a file larger than one chunk by its verified-chunk tree
// (blob.Outboard), when the mount's Fetcher is a TreeFetcher.
//
// A handle starts the fetch of a peer's tree together with the first
// chunk it fetches from that peer (once per handle and peer). The handle's
// mode is decided by the first peer that delivers a chunk: if that peer
// gave its tree, every chunk of the handle is checked on its own with
// blob.VerifyChunk, in its fetch goroutine, before it is served (modeTree;
// the in-order hashing is not used); if it could not (an older peer, a
// store that refuses, a timeout, or a tree slower than Options.TreeWait
// for a file read from its start: see verifyChunk), the handle hashes in
// order as without trees (modeHash), and asks no more trees. No chunk is
// served before the mode is decided, so no chunk escapes both checks.
//
// In modeTree a chunk from peer p is checked with p's own tree; when p has
// none, with the tree the handle got first. Any tree is safe for any
// peer's bytes: VerifyChunk checks every node up to the blob's hash, so a
// wrong tree can only refuse good bytes, never accept bad ones. A chunk
// that fails counts as p failing (its tree or its bytes are bad): the next
// peer holding the blob is asked, as for a fetch error.

// The tree checks aligned chunks of blob.TreeChunk bytes: the handle's
// chunks must be those (a compile error otherwise).
var (
	_ [chunkSize - blob.TreeChunk]struct{}
	_ [blob.TreeChunk - chunkSize]struct{}
)

// verifyMode is how a handle checks its chunks.
type verifyMode int

const (
	modeUnknown verifyMode = iota // trees asked, none delivered a chunk yet
	modeHash                      // in-order hashing of the whole content
	modeTree                      // every chunk on its own, by the tree
)

// treeSlot is one peer's tree for a handle, fetched at most once.
type treeSlot struct {
	started bool          // under handle.mu
	done    chan struct{} // closed when tree or err is set
	tree    []byte
	err     error
}

// startTree starts the fetch of peer p's tree unless it was started or
// the handle hashes in order.
func (h *handle) startTree(p int) {
	if h.trees == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.startTreeLocked(p)
}

func (h *handle) startTreeLocked(p int) {
	slot := &h.trees[p]
	if h.mode == modeHash || slot.started {
		return
	}
	slot.started = true
	go func() {
		slot.tree, slot.err = h.fetchTree(h.peers[p])
		close(slot.done)
	}()
}

// fetchTree fetches peer's tree of the handle's blob, bounded like a
// chunk's fetch (FetchTimeout), and checks its shape. It holds no fetch
// slot: a tree call waits for the peer to hash the file, and holding
// slots the chunks need, the trees of a few files opened at once stalled
// the first chunk of each (the one whose arrival starts TreeWait) for
// FetchTimeout (TestReadTreeSlowTreesOpenedAtOnce). Tree calls are one per
// open file and peer, each a single small reply.
func (h *handle) fetchTree(peer string) ([]byte, error) {
	tf := h.s.fetch.(TreeFetcher)
	var t []byte
	var terr error
	if err := h.boundedIn(h.treeCtx, false, func(ctx context.Context) {
		t, terr = tf.Tree(ctx, peer, h.arena, h.path, h.e.Blob, h.e.Size)
	}); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	if terr != nil {
		return nil, fmt.Errorf("tree: %w", terr)
	}
	if err := blob.CheckOutboard(t, h.e.Size); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	return t, nil
}

// verifyChunk checks chunk i, fetched from peer p, by the tree, deciding
// the handle's mode if this is the first chunk delivered. It returns
// errCorrupt when the chunk does not match, nil when it does or when the
// handle hashes in order instead.
//
// The wait for the tree: a chunk the in-order hashing needs next (chunk 0
// for the first one delivered: a file read from its start) waits for the
// peer's tree at most Options.TreeWait, then the handle hashes in order (a
// peer computing the tree of a large file first would otherwise stall the
// start of every cat); any other chunk can be checked by nothing else and
// waits for the tree as long as its fetch may take (FetchTimeout).
func (h *handle) verifyChunk(p int, i int64, data []byte) error {
	if h.trees == nil {
		return nil
	}
	slot := &h.trees[p]
	h.mu.Lock()
	h.startTreeLocked(p)
	inOrder := i == h.hashed
	h.mu.Unlock()
	var grace <-chan time.Time
	if inOrder {
		t := time.NewTimer(h.s.opts.TreeWait)
		defer t.Stop()
		grace = t.C
	}
	for {
		h.mu.Lock()
		mode := h.mode
		h.mu.Unlock()
		if mode == modeHash {
			return nil
		}
		done := false
		if mode == modeUnknown {
			select {
			case <-slot.done:
				done = true
			case <-h.decided: // another chunk decided: look again
			case <-grace:
				h.mu.Lock()
				if h.mode == modeUnknown {
					h.s.log.Info("unreal: the peer's verified-chunk tree is slow to come: hashing the file in order",
						"path", tree.Join(h.arena, h.path), "peer", h.peers[p], "waited", h.s.opts.TreeWait)
					h.decideLocked(modeHash, nil)
				}
				h.mu.Unlock()
			case <-h.ctx.Done():
				return h.ctx.Err()
			}
		} else {
			select {
			case <-slot.done:
				done = true
			case <-h.ctx.Done():
				return h.ctx.Err()
			}
		}
		if done {
			break
		}
	}
	h.mu.Lock()
	if h.mode == modeUnknown {
		if slot.err != nil {
			h.s.log.Info("unreal: no verified-chunk tree from the peer: hashing the file in order",
				"path", tree.Join(h.arena, h.path), "peer", h.peers[p], "err", slot.err)
			h.decideLocked(modeHash, nil)
		} else {
			h.decideLocked(modeTree, slot.tree)
		}
	}
	mode, t := h.mode, slot.tree
	if slot.err != nil {
		t = h.tree // nil in modeHash
	}
	h.mu.Unlock()
	if mode == modeHash {
		return nil
	}
	if !blob.VerifyChunk(h.e.Blob, t, i*chunkSize, data) {
		if slot.err != nil {
			return fmt.Errorf("%w: chunk at %d, checked by another peer's tree (this peer gave none: %v)", errCorrupt, i*chunkSize, slot.err)
		}
		return fmt.Errorf("%w: chunk at %d does not match the peer's tree of blob %s", errCorrupt, i*chunkSize, h.e.Blob)
	}
	return nil
}

// decideLocked sets the handle's mode, once.
func (h *handle) decideLocked(mode verifyMode, t []byte) {
	h.mode = mode
	h.tree = t
	if mode == modeTree {
		h.giveUpHash() // every chunk is checked on its own instead
	} else {
		// No tree is used from now on: the calls still waiting for one
		// (a peer hashing a large file) would hold fetch slots up to
		// FetchTimeout, and with a few such files kept open every other
		// read would wait for a slot (TestReadTreeGivenUpFreesFetchSlot).
		h.treeCancel()
	}
	close(h.decided)
}
