package blob

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"lukechampine.com/blake3/bao"
)

// The verified-chunk tree. A content's Hash is the root of BLAKE3's hash
// tree; its outboard is the inner nodes of that tree down to groups of
// TreeChunk bytes (Bao's outboard encoding with 4 MiB groups: 8 bytes of
// length, then 64 bytes per inner node, 2·(chunks−1) CVs in all: 16 KiB
// for a GiB). With the outboard, each aligned TreeChunk of the content can
// be checked against the Hash on its own, in any order, without the rest.

// TreeChunk is the size of the groups the outboard stops at (the Unreal's
// fetch chunk).
const TreeChunk = 4 << 20

// treeGroup is TreeChunk as Bao's group parameter: 1 KiB chunks << 12.
const treeGroup = 12

// ErrBadOutboard: an outboard that cannot be the tree of the content.
var ErrBadOutboard = errors.New("invalid outboard")

// OutboardSize is the size of the outboard of size bytes of content.
func OutboardSize(size int64) int {
	return bao.EncodedSize(int(size), treeGroup, true)
}

// Outboard reads size bytes of content from r and returns its Hash and its
// outboard.
func Outboard(r io.Reader, size int64) (Hash, []byte, error) {
	if size < 0 {
		return Hash{}, nil, fmt.Errorf("outboard: negative size %d", size)
	}
	out := &writerAt{b: make([]byte, OutboardSize(size))}
	root, err := bao.Encode(out, r, size, treeGroup, true)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("outboard: %w", err)
	}
	return Hash(root), out.b, nil
}

// CheckOutboard reports whether outboard has the shape of the tree of size
// bytes (its length and the size it records); whether its nodes are the
// right ones shows in VerifyChunk.
func CheckOutboard(outboard []byte, size int64) error {
	if want := OutboardSize(size); len(outboard) != want {
		return fmt.Errorf("%w: %d bytes for %d bytes of content, want %d", ErrBadOutboard, len(outboard), size, want)
	}
	if got := binary.LittleEndian.Uint64(outboard); got != uint64(size) {
		return fmt.Errorf("%w: it is for %d bytes, the content has %d", ErrBadOutboard, got, size)
	}
	return nil
}

// VerifyChunk reports whether data is the content's TreeChunk at offset
// off (a multiple of TreeChunk; the last chunk may be shorter), as the
// tree outboard of the content with Hash root says. A wrong outboard fails
// too: every node on the way to the root is checked.
func VerifyChunk(root Hash, outboard []byte, off int64, data []byte) bool {
	if off < 0 || off%TreeChunk != 0 || len(data) > TreeChunk || len(outboard) < 8 {
		return false
	}
	size := binary.LittleEndian.Uint64(outboard)
	end := uint64(off) + uint64(len(data))
	if end > size || (len(data) < TreeChunk && end != size) || (len(data) == 0 && size != 0) {
		return false
	}
	if size == 0 {
		// Bao has no group for empty content (its check refuses it):
		// the outboard is its length alone, and root is the hash of nothing.
		return len(outboard) == 8 && root == Of(nil)
	}
	return bao.VerifyChunk(data, outboard, treeGroup, uint64(off), root)
}

// writerAt is an io.WriterAt over a buffer of the final size.
type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(w.b)) {
		return 0, fmt.Errorf("outboard write of %d bytes at %d past %d", len(p), off, len(w.b))
	}
	return copy(w.b[off:], p), nil
}
