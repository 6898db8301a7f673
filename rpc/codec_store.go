package rpc

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Field numbers of realv1.ReadResponse, which storeCodec encodes and
// decodes by hand.
const (
	readResponseData = 1
	readResponseSize = 2
)

// storeCodec is the protobuf binary codec of StoreService ("proto", the same
// wire format as Connect's own) with two shortcuts for the content, so that
// each byte is copied once on either side of HTTP/2:
//   - the server sends *outChunk: its content is read from the Content
//     straight into the message buffer;
//   - the client receives into *inChunk: the data field is copied from the
//     frame buffer straight into the caller's slice.
//
// Any proto.Message goes through protobuf as usual.
type storeCodec struct{}

func (storeCodec) Name() string { return "proto" }

func (c storeCodec) Marshal(msg any) ([]byte, error) { return c.MarshalAppend(nil, msg) }

func (storeCodec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *outChunk:
		return m.appendTo(dst)
	case proto.Message:
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	return nil, fmt.Errorf("store codec: cannot marshal %T", msg)
}

func (storeCodec) Unmarshal(data []byte, msg any) error {
	switch m := msg.(type) {
	case *inChunk:
		return m.parse(data)
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("store codec: cannot unmarshal into %T", msg)
}

// outChunk is a ReadResponse whose data is n bytes of c at off. Encoding it
// reads them; got and err are what ReadAt returned.
type outChunk struct {
	c    Content
	off  int64
	n    int
	size int64 // sent when not 0 (the first message)
	got  int
	err  error
}

// errChunkRead stops sending an outChunk whose read failed; the handler
// looks at outChunk.err.
var errChunkRead = errors.New("content read failed")

func (m *outChunk) appendTo(dst []byte) ([]byte, error) {
	m.got, m.err = 0, nil
	if m.size != 0 {
		dst = protowire.AppendTag(dst, readResponseSize, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(m.size))
	}
	if m.n == 0 {
		return dst, nil
	}
	field := len(dst)
	dst = protowire.AppendTag(dst, readResponseData, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(m.n))
	start := len(dst)
	dst = slices.Grow(dst, m.n)[:start+m.n]
	if !m.fill(dst[start:]) {
		return nil, errChunkRead
	}
	if m.got < m.n {
		// Short read at the end: send what there is (the next read tells
		// that the content changed). The length prefix may shrink.
		data := dst[start : start+m.got]
		dst = protowire.AppendTag(dst[:field], readResponseData, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(m.got))
		at := len(dst) // <= start: copy moves the bytes down
		dst = dst[:at+m.got]
		copy(dst[at:], data)
	}
	return dst, nil
}

// fill reads the chunk into p (len(p) == m.n) and tells whether it can be
// sent: some bytes came, and the only error, if any, is io.EOF.
func (m *outChunk) fill(p []byte) bool {
	m.got, m.err = m.c.ReadAt(p, m.off)
	if m.got == 0 && m.err == nil {
		m.err = io.ErrNoProgress
	}
	return m.err == nil || (m.got > 0 && errors.Is(m.err, io.EOF))
}

// inChunk receives a ReadResponse: the data field is copied into dst when it
// fits; n is its length either way (so the caller can refuse a reply longer
// than asked), size the size field.
type inChunk struct {
	dst  []byte
	n    int
	size int64
}

func (m *inChunk) parse(b []byte) error {
	m.n, m.size = 0, 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("read response: %w", protowire.ParseError(l))
		}
		if !num.IsValid() {
			return fmt.Errorf("read response: invalid field number %d", num)
		}
		b = b[l:]
		switch {
		case num == readResponseData && typ == protowire.BytesType:
			var v []byte
			v, l = protowire.ConsumeBytes(b)
			if l >= 0 {
				m.n = len(v)
				if len(v) <= len(m.dst) {
					copy(m.dst, v)
				}
			}
		case num == readResponseSize && typ == protowire.VarintType:
			var v uint64
			v, l = protowire.ConsumeVarint(b)
			m.size = int64(v)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return fmt.Errorf("read response field %d: %w", num, protowire.ParseError(l))
		}
		b = b[l:]
	}
	return nil
}
