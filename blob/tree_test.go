package blob

import (
	"bytes"
	"testing"
)

func content(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// TestOutboardRootIsTheHash: the tree's root is the content's Hash (the
// same BLAKE3 as Of), for sizes around the group boundaries.
func TestOutboardRootIsTheHash(t *testing.T) {
	for _, n := range []int{0, 1, 1024, TreeChunk - 1, TreeChunk, TreeChunk + 1, 3*TreeChunk + 77} {
		data := content(n)
		root, ob, err := Outboard(bytes.NewReader(data), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		if root != Of(data) {
			t.Errorf("%d bytes: root %v, Of %v", n, root, Of(data))
		}
		if err := CheckOutboard(ob, int64(n)); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

// TestVerifyChunk: each chunk checks out on its own, in any order; a
// changed byte, a chunk at the wrong offset, a changed outboard node or
// another content's root does not.
func TestVerifyChunk(t *testing.T) {
	n := 3*TreeChunk + 77
	data := content(n)
	root, ob, err := Outboard(bytes.NewReader(data), int64(n))
	if err != nil {
		t.Fatal(err)
	}
	chunk := func(i int) []byte { return data[i*TreeChunk : min(n, (i+1)*TreeChunk)] }
	for _, i := range []int{3, 0, 2, 1} {
		if !VerifyChunk(root, ob, int64(i*TreeChunk), chunk(i)) {
			t.Errorf("chunk %d does not verify", i)
		}
	}
	bad := append([]byte(nil), chunk(1)...)
	bad[12345] ^= 1
	if VerifyChunk(root, ob, TreeChunk, bad) {
		t.Error("a changed byte verifies")
	}
	if VerifyChunk(root, ob, 2*TreeChunk, chunk(1)) {
		t.Error("chunk 1 verifies at the offset of chunk 2")
	}
	if VerifyChunk(root, ob, TreeChunk, chunk(1)[:TreeChunk-1]) {
		t.Error("a short middle chunk verifies")
	}
	if VerifyChunk(Of([]byte("other")), ob, 0, chunk(0)) {
		t.Error("chunk verifies under another root")
	}
	for i := 8; i < len(ob); i += 29 {
		ob2 := append([]byte(nil), ob...)
		ob2[i] ^= 0x40
		ok := true
		for c := 0; c <= 3; c++ {
			ok = ok && VerifyChunk(root, ob2, int64(c*TreeChunk), chunk(c))
		}
		if ok {
			t.Errorf("outboard with byte %d changed verifies every chunk", i)
		}
	}
	if err := CheckOutboard(ob[:len(ob)-1], int64(n)); err == nil {
		t.Error("a short outboard passes CheckOutboard")
	}
	if err := CheckOutboard(ob, int64(n+1)); err == nil {
		t.Error("an outboard for another size passes CheckOutboard")
	}
}

// A single-chunk content has an outboard of its length alone.
func TestOutboardOfOneChunk(t *testing.T) {
	data := content(1000)
	root, ob, err := Outboard(bytes.NewReader(data), 1000)
	if err != nil || len(ob) != 8 {
		t.Fatalf("outboard %d bytes, %v", len(ob), err)
	}
	if !VerifyChunk(root, ob, 0, data) {
		t.Error("the only chunk does not verify")
	}
}

func BenchmarkVerifyChunk(b *testing.B) {
	n := 64 * TreeChunk
	data := content(n)
	root, ob, _ := Outboard(bytes.NewReader(data), int64(n))
	b.SetBytes(TreeChunk)
	i := 0
	for b.Loop() {
		if !VerifyChunk(root, ob, int64(i*TreeChunk), data[i*TreeChunk:(i+1)*TreeChunk]) {
			b.Fatal("does not verify")
		}
		i = (i + 1) % 64
	}
}

// The content of zero bytes has one chunk, empty, that verifies as any
// other only chunk does; nothing else verifies against its tree.
func TestVerifyChunkEmpty(t *testing.T) {
	root, ob, err := Outboard(bytes.NewReader(nil), 0)
	if err != nil || len(ob) != 8 || CheckOutboard(ob, 0) != nil {
		t.Fatalf("outboard of nothing: %d bytes, %v", len(ob), err)
	}
	if !VerifyChunk(root, ob, 0, nil) {
		t.Error("the empty chunk of the empty content does not verify")
	}
	if VerifyChunk(Of([]byte("x")), ob, 0, nil) {
		t.Error("the empty chunk verifies under another root")
	}
	if VerifyChunk(root, ob, 0, []byte("x")) || VerifyChunk(root, ob, TreeChunk, nil) {
		t.Error("bytes or an offset beyond the empty content verify")
	}
}
