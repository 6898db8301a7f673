package rpc

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// The hand-made encoding of a chunk is read back by protobuf as the same
// ReadResponse, and protobuf's encoding is read back by the hand-made decoder.
func TestStoreCodecMatchesProtobuf(t *testing.T) {
	data := randomBytes(MaxChunk + 7)
	for _, tc := range []struct {
		name string
		n    int
		size int64
	}{
		{"first with data", 1000, 1 << 40},
		{"later chunk", MaxChunk, 0},
		{"empty file", 0, 0},
		{"size only", 0, 12345},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &outChunk{c: memContent{bytes.NewReader(data)}, off: 7, n: tc.n, size: tc.size}
			wire, err := storeCodec{}.MarshalAppend([]byte("junk")[:0], out)
			if err != nil || out.got != tc.n {
				t.Fatalf("marshal: got %d, %v", out.got, err)
			}
			var pm realv1.ReadResponse
			if err := proto.Unmarshal(wire, &pm); err != nil {
				t.Fatal(err)
			}
			if pm.GetSize() != tc.size || !bytes.Equal(pm.GetData(), data[7:7+tc.n]) {
				t.Fatalf("protobuf reads size %d and %d bytes; want %d and %d", pm.GetSize(), len(pm.GetData()), tc.size, tc.n)
			}

			wire, err = proto.Marshal(&realv1.ReadResponse{Data: data[:tc.n], Size: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			in := inChunk{dst: make([]byte, tc.n+10)}
			if err := (storeCodec{}).Unmarshal(wire, &in); err != nil {
				t.Fatal(err)
			}
			if in.size != tc.size || in.n != tc.n || !bytes.Equal(in.dst[:in.n], data[:tc.n]) {
				t.Fatalf("decoded size %d, %d bytes; want %d, %d", in.size, in.n, tc.size, tc.n)
			}
		})
	}
}

// A content shorter than asked sends what there is, with a correct length.
func TestStoreCodecShortRead(t *testing.T) {
	data := randomBytes(100)
	out := &outChunk{c: memContent{bytes.NewReader(data)}, off: 40, n: 1000, size: 5}
	wire, err := storeCodec{}.MarshalAppend(nil, out)
	if err != nil || out.got != 60 || !errors.Is(out.err, io.EOF) {
		t.Fatalf("marshal: got %d, %v, %v; want 60, EOF", out.got, out.err, err)
	}
	var pm realv1.ReadResponse
	if err := proto.Unmarshal(wire, &pm); err != nil || !bytes.Equal(pm.GetData(), data[40:]) || pm.GetSize() != 5 {
		t.Fatalf("protobuf reads %d bytes, size %d, %v", len(pm.GetData()), pm.GetSize(), err)
	}
	// Nothing at all: the message is not sent.
	out = &outChunk{c: memContent{bytes.NewReader(data)}, off: 100, n: 10}
	if _, err := (storeCodec{}).MarshalAppend(nil, out); !errors.Is(err, errChunkRead) || !errors.Is(out.err, io.EOF) {
		t.Fatalf("marshal past the end: %v, %v", err, out.err)
	}
}

// Unknown fields are skipped, a reply longer than the room is measured but
// not copied, and broken encodings are refused.
func TestStoreCodecDecodeEdges(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("future"))
	b = protowire.AppendTag(b, readResponseData, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("0123456789"))
	b = protowire.AppendTag(b, readResponseSize, protowire.VarintType)
	b = protowire.AppendVarint(b, 99)
	in := inChunk{dst: make([]byte, 4)}
	if err := (storeCodec{}).Unmarshal(b, &in); err != nil || in.n != 10 || in.size != 99 || string(in.dst) != "\x00\x00\x00\x00" {
		t.Fatalf("decoded n=%d size=%d dst=%q, %v; want 10, 99, untouched", in.n, in.size, in.dst, err)
	}
	for name, bad := range map[string][]byte{
		"cut data":   b[:len(b)-5],
		"bad tag":    {0xff},
		"cut varint": {byte(readResponseSize<<3 | 0), 0x80},
	} {
		if err := (storeCodec{}).Unmarshal(bad, &inChunk{dst: make([]byte, 100)}); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzStoreCodecDecode(f *testing.F) {
	for _, m := range []*realv1.ReadResponse{{}, {Size: 3, Data: []byte("abc")}, {Data: randomBytes(300)}} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pm realv1.ReadResponse
		perr := proto.Unmarshal(b, &pm)
		in := inChunk{dst: make([]byte, 64)}
		err := storeCodec{}.Unmarshal(b, &in)
		if (perr == nil) != (err == nil) {
			t.Fatalf("protobuf: %v, store codec: %v", perr, err)
		}
		if err != nil {
			return
		}
		if in.size != pm.GetSize() || in.n != len(pm.GetData()) {
			t.Fatalf("size %d n %d; protobuf %d %d", in.size, in.n, pm.GetSize(), len(pm.GetData()))
		}
		if in.n <= len(in.dst) && !bytes.Equal(in.dst[:in.n], pm.GetData()) {
			t.Fatal("data differs from protobuf's")
		}
	})
}
