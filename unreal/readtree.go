package unreal

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// store that refuses, a timeout), the handle hashes in order as without
// trees (modeHash), and asks no more trees. No chunk is served before the
// mode is decided, so no chunk escapes both checks.
//
// A tree slower than Options.TreeWait for a file read from its start (see
// verifyChunk; a peer hashes a large file before it can answer) also
// decides modeHash, but a late one (handle.late): the tree fetches go on,
// and the handle is mixed. While the in-order hashing is alive nothing
// changes (a sequential read keeps its speed and its verdict at the end).
// Every chunk the hashing will not see (once it is given up: the reader
// skipped around, even a little past chunks never asked for, or a chunk
// failed and was skipped; or a read reached the end past such chunks; or
// a chunk fetched again behind it) is checked by the tree before it is
// served, waiting for it as long as the tree's fetch may take
// (FetchTimeout), exactly as in modeTree: a chunk that fails counts as its
// peer failing. Chunks fetched before the switch, unchecked, are not
// served after it: a read that used one drops it and reads again (see
// handle.forgetUnchecked), so it is fetched again and checked. If the late
// tree then fails too (neither the chunk's peer nor the late one gave one,
// and then none of the other peers holding the blob, each asked once),
// those chunks are served unverified, as in modeHash, and that is logged
// once: the alternative, EIO for every seek, would make
// large files unreadable from peers whose tree computation times out.
//
// In modeTree a chunk from peer p is checked with p's own tree; when p has
// none, with the tree the handle got first; while p's is still to come (a
// peer a read failed over to, hashing the file first), by a tree the
// handle already has when one passes it (checkedByReady), else p's is
// waited for. A late handle's check (checkLate) tries those first as well. Any tree is safe for any
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
// the handle hashes in order for want of a tree (not a late one).
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
	if h.mode == modeHash && !h.late || slot.started {
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
// errCorrupt when the chunk does not match; checked reports whether it was
// checked on its own (else the in-order hashing is to see it, or nothing
// can check it: a late tree that failed).
//
// The wait for the tree: a chunk the in-order hashing needs next (chunk 0
// for the first one delivered: a file read from its start) waits for the
// peer's tree at most Options.TreeWait, then the handle hashes in order (a
// peer computing the tree of a large file first would otherwise stall the
// start of every cat); any other chunk can be checked by nothing else and
// waits for the tree as long as its fetch may take (FetchTimeout).
func (h *handle) verifyChunk(p int, i int64, data []byte) (checked bool, err error) {
	if h.trees == nil {
		return false, nil
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
		mode, check := h.mode, h.mustCheckLocked(i)
		h.mu.Unlock()
		if mode == modeHash {
			if check {
				return h.checkLate(p, i, data)
			}
			return false, nil
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
					h.late, h.latePeer = true, p
					h.decideLocked(modeHash, nil)
				}
				h.mu.Unlock()
			case <-h.ctx.Done():
				return false, h.ctx.Err()
			}
		} else {
			select {
			case <-slot.done:
				done = true
			default:
				// p's own tree is not there yet (a peer the read failed
				// over to may hash the file first, up to FetchTimeout):
				// a tree the handle has checks the chunk as well.
				if h.checkedByReady(i, data) {
					return true, nil
				}
				select {
				case <-slot.done:
					done = true
				case <-h.ctx.Done():
					return false, h.ctx.Err()
				}
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
	mode, check := h.mode, h.mustCheckLocked(i)
	t := slot.tree
	if slot.err != nil {
		t = h.tree // nil in modeHash
	}
	h.mu.Unlock()
	if mode == modeHash {
		if check { // a late tree (decided by another chunk) and the hashing gone since
			return h.checkLate(p, i, data)
		}
		return false, nil
	}
	if !blob.VerifyChunk(h.e.Blob, t, i*chunkSize, data) {
		if slot.err != nil {
			return false, fmt.Errorf("%w: chunk at %d, checked by another peer's tree (this peer gave none: %v)", errCorrupt, i*chunkSize, slot.err)
		}
		return false, fmt.Errorf("%w: chunk at %d does not match the peer's tree of blob %s", errCorrupt, i*chunkSize, h.e.Blob)
	}
	return true, nil
}

// mustCheckLocked reports whether chunk i, not checked yet, must be checked
// by the tree before it is served: in a handle whose tree was late (see the
// comment at the top), when the in-order hashing will not see it (given
// up, or already past it), unless the late tree failed.
func (h *handle) mustCheckLocked(i int64) bool {
	return h.late && !h.treeGone && (h.hashed < 0 || i < h.hashed)
}

// checkLate checks chunk i from peer p in a late handle (mustCheckLocked):
// by p's tree, else by the tree of the peer that was late (h.latePeer),
// else by the tree of any other peer holding the blob (asked only once
// those two failed, all at once, each at most once per handle), waiting
// for each as long as its fetch takes (bounded by FetchTimeout, as any
// tree; the others' in parallel). When none came, nothing can check the
// chunk: the handle stops checking (treeGone) and the chunk is served
// unverified (see the comment at the top for why not EIO).
func (h *handle) checkLate(p int, i int64, data []byte) (checked bool, err error) {
	h.mu.Lock()
	h.startTreeLocked(p)
	h.mu.Unlock()
	if h.checkedByReady(i, data) {
		return true, nil
	}
	var errs []error
	from := []int{p}
	if h.latePeer != p {
		from = append(from, h.latePeer)
	}
	for k := 0; k < len(from); k++ {
		q := from[k]
		slot := &h.trees[q]
		select {
		case <-slot.done:
		case <-h.ctx.Done():
			return false, h.ctx.Err()
		}
		if slot.err != nil {
			errs = append(errs, fmt.Errorf("from %s: %w", h.peers[q], slot.err))
			if k == len(from)-1 && len(from) < len(h.peers) { // all failed so far
				from = h.otherTrees(from)
			}
			continue
		}
		if !blob.VerifyChunk(h.e.Blob, slot.tree, i*chunkSize, data) {
			if q != p {
				return false, fmt.Errorf("%w: chunk at %d, checked by another peer's tree (this peer gave none: %v)", errCorrupt, i*chunkSize, errs[0])
			}
			return false, fmt.Errorf("%w: chunk at %d does not match the peer's tree of blob %s", errCorrupt, i*chunkSize, h.e.Blob)
		}
		return true, nil
	}
	h.mu.Lock()
	if !h.treeGone {
		h.treeGone = true
		h.s.log.Info("unreal: the late verified-chunk trees failed: reads that skip around this open file are served unverified",
			"path", tree.Join(h.arena, h.path), "peer", h.peers[p], "err", errors.Join(errs...))
	}
	h.mu.Unlock()
	return false, nil
}

// checkedByReady reports whether a tree the handle already has (any
// peer's: any tree is safe for any peer's bytes, see the comment at the
// top) checks chunk i. A chunk from a peer whose own tree is still to come
// (a peer the read failed over to, hashing the file first) is then not
// held for it, up to FetchTimeout (TestReadTreeFailoverNotHeldByNewPeersTree);
// a tree that refuses the chunk proves nothing (it may be the wrong one),
// so the caller then waits for the trees as before.
func (h *handle) checkedByReady(i int64, data []byte) bool {
	h.mu.Lock()
	var ready [][]byte
	for q := range h.trees {
		slot := &h.trees[q]
		if !slot.started {
			continue
		}
		select {
		case <-slot.done:
			if slot.err == nil {
				ready = append(ready, slot.tree)
			}
		default:
		}
	}
	h.mu.Unlock()
	for _, t := range ready {
		if blob.VerifyChunk(h.e.Blob, t, i*chunkSize, data) {
			return true
		}
	}
	return false
}

// otherTrees starts the tree fetches of the peers holding the blob not in
// from (those started before are not asked again) and returns from with
// them appended, in the handle's peer order.
func (h *handle) otherTrees(from []int) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for q := range h.peers {
		if !slices.Contains(from, q) {
			h.startTreeLocked(q)
			from = append(from, q)
		}
	}
	return from
}

// decideLocked sets the handle's mode, once.
func (h *handle) decideLocked(mode verifyMode, t []byte) {
	h.mode = mode
	h.tree = t
	switch {
	case mode == modeTree:
		h.giveUpHash() // every chunk is checked on its own instead
	case !h.late:
		// No tree is used from now on: the calls still waiting for one
		// are cancelled (they hold no fetch slot any more, see fetchTree,
		// but a peer hashing a large file need not go on for nothing).
		// A late tree is kept: it checks the chunks the in-order hashing
		// will not see.
		h.treeCancel()
	}
	close(h.decided)
}
