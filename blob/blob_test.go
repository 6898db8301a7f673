package blob

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestHashForms(t *testing.T) {
	h := Of([]byte("hello"))
	if h.IsZero() {
		t.Fatal("hash of content is zero")
	}
	p, err := Parse(h.String())
	if err != nil || p != h {
		t.Fatalf("Parse(String()) = %v, %v", p, err)
	}
	b, err := FromBytes(h.Bytes())
	if err != nil || b != h {
		t.Fatalf("FromBytes(Bytes()) = %v, %v", b, err)
	}
	if z, err := FromBytes(nil); err != nil || !z.IsZero() {
		t.Fatalf("FromBytes(nil) = %v, %v; want zero", z, err)
	}
	for _, bad := range [][]byte{{1}, make([]byte, 31), make([]byte, 33)} {
		if _, err := FromBytes(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("FromBytes(%d bytes) = %v, want ErrBadHash", len(bad), err)
		}
	}
	if _, err := Parse("zz"); !errors.Is(err, ErrBadHash) {
		t.Errorf("Parse(zz) = %v", err)
	}
}

func TestStreamedEqualsWhole(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, data, 0o644)
	h, n, err := File(f)
	if err != nil || n != int64(len(data)) || h != Of(data) {
		t.Fatalf("File = %v %d %v; want %v %d", h, n, err, Of(data), len(data))
	}
}

func BenchmarkHashStream(b *testing.B) {
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)) * 64)
	for b.Loop() {
		h := NewHasher()
		for range 64 {
			h.Write(buf)
		}
		h.Sum()
	}
}

// TestHasherPieces: a Write longer than a piece, or not a multiple of it,
// hashes the same as the whole content at once.
func TestHasherPieces(t *testing.T) {
	data := make([]byte, 3*writePiece+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, split := range []int{0, 1, writePiece - 1, writePiece, writePiece + 1, len(data)} {
		h := NewHasher()
		h.Write(data[:split])
		h.Write(data[split:])
		if got := h.Sum(); got != Of(data) {
			t.Errorf("split at %d: %v, want %v", split, got, Of(data))
		}
	}
}
