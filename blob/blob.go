// Package blob names content: a Hash is the BLAKE3-256 of a file's whole
// content. Stage 4 adds the content-addressed cache here.
package blob

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/zeebo/blake3"
)

// Size is the length of a Hash in bytes.
const Size = 32

// Hash is the BLAKE3-256 hash of a content. The zero Hash means "none".
type Hash [Size]byte

// ErrBadHash is returned for a hash of the wrong size or encoding.
var ErrBadHash = errors.New("invalid blob hash")

// IsZero reports whether h is the zero ("none") hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns the lowercase hex form, or "" for the zero hash.
func (h Hash) String() string {
	if h.IsZero() {
		return ""
	}
	return hex.EncodeToString(h[:])
}

// FromBytes converts a wire form: empty means none, otherwise exactly Size bytes.
func FromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) == 0 {
		return h, nil
	}
	if len(b) != Size {
		return h, fmt.Errorf("%w: %d bytes, want %d", ErrBadHash, len(b), Size)
	}
	copy(h[:], b)
	return h, nil
}

// Bytes returns the wire form: nil for the zero hash.
func (h Hash) Bytes() []byte {
	if h.IsZero() {
		return nil
	}
	return append([]byte(nil), h[:]...)
}

// Parse parses the hex form; "" is the zero hash.
func Parse(s string) (Hash, error) {
	if s == "" {
		return Hash{}, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return Hash{}, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	return FromBytes(b)
}

// Of hashes a byte slice (a long one in pieces, as Hasher.Write does).
func Of(b []byte) Hash {
	if len(b) > writePiece {
		h := NewHasher()
		h.Write(b)
		return h.Sum()
	}
	return Hash(blake3.Sum256(b))
}

// Hasher hashes streamed writes.
type Hasher struct{ h *blake3.Hasher }

// NewHasher returns a hasher for streamed content.
func NewHasher() *Hasher { return &Hasher{h: blake3.New()} }

// writePiece is how much of a Write goes to the hash library at once. Its
// assembly loop over a long slice has no preemption point: a goroutine
// hashing 4 MiB in one call could not be stopped for ~3 ms, and every
// garbage collection spun waiting for it (15 % of the CPU of a remote
// read). Between pieces the goroutine can be stopped.
const writePiece = 64 << 10

// Write adds p to the content; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > writePiece {
		h.piece(p[:writePiece])
		p = p[writePiece:]
	}
	h.piece(p)
	return n, nil
}

// piece hashes one piece; not inlined, so that each call is a point where
// a goroutine asked to stop (for a GC) does.
//
//go:noinline
func (h *Hasher) piece(p []byte) { h.h.Write(p) }

// Sum returns the hash of what was written.
func (h *Hasher) Sum() Hash {
	var out Hash
	h.h.Sum(out[:0])
	return out
}

// bufs holds read buffers: most files are small, and a fresh 256 KiB
// buffer per file cost more than hashing it.
var bufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Read hashes everything r yields and returns the hash and the byte count.
func Read(r io.Reader) (Hash, int64, error) {
	h := NewHasher()
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	n, err := io.CopyBuffer(h, onlyReader{r}, *buf)
	if err != nil {
		return Hash{}, n, err
	}
	return h.Sum(), n, nil
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

// File hashes the file at path.
func File(path string) (Hash, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hash{}, 0, err
	}
	defer f.Close()
	return Read(f)
}
