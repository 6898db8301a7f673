package history

import (
	"encoding/binary"

	"github.com/realsync/real/blob"
)

// Chain returns the chain value of entry e after prev, the chain value of
// the entry before it (the zero hash before the first one):
// BLAKE3-256(prev || canonical encoding of e). The chain value of the last
// entry of a history up to some index is a fingerprint of that whole
// history: two histories with the same chain value at an index hold the
// same entries up to it. The encoding (AppendCanonical) is fixed: changing
// it changes every fingerprint, which costs each peer one full report.
func Chain(prev blob.Hash, e *Entry) blob.Hash {
	b := make([]byte, 0, 32+64+len(e.Arena)+len(e.Path)+64)
	b = append(b, prev[:]...)
	return blob.Of(AppendCanonical(b, e))
}

// AppendCanonical appends the canonical encoding of e to b: index, kind,
// arena and path (length-prefixed), mtime in Unix nanoseconds (0: none),
// size, blob and previous blob (32 bytes each, zero: none), integers
// big-endian, 8 bytes each.
func AppendCanonical(b []byte, e *Entry) []byte {
	var mt int64
	if !e.Mtime.IsZero() {
		mt = e.Mtime.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Arena)))
	b = append(b, e.Arena...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Path)))
	b = append(b, e.Path...)
	b = binary.BigEndian.AppendUint64(b, uint64(mt))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
	b = append(b, e.Blob[:]...)
	return append(b, e.PrevBlob[:]...)
}
