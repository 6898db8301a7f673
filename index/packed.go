package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/realsync/real/blob"
)

// packedHead is the fixed part of the packed column (schema/005_packed.sql):
// kind, size, mtime, ctime, inode, opaque, blob length.
const packedHead = 1 + 8 + 8 + 8 + 8 + 1 + 1

// packRow encodes what Scan reads of r into the packed column.
func packRow(r Row) []byte {
	b := r.Blob.Bytes()
	out := make([]byte, packedHead, packedHead+len(b)+len(r.Origin))
	out[0] = byte(r.Kind)
	binary.BigEndian.PutUint64(out[1:], uint64(r.Size))
	binary.BigEndian.PutUint64(out[9:], uint64(nanos(r.Mtime)))
	binary.BigEndian.PutUint64(out[17:], uint64(nanos(r.Ctime)))
	binary.BigEndian.PutUint64(out[25:], r.Inode)
	if r.Opaque {
		out[33] = 1
	}
	out[34] = byte(len(b))
	out = append(out, b...)
	return append(out, r.Origin...)
}

// unpackRow decodes a packed column into r (Arena and Path are set by the caller).
func unpackRow(p []byte, r *Row) error {
	if len(p) < packedHead {
		return fmt.Errorf("packed row: %d bytes, want at least %d", len(p), packedHead)
	}
	n := int(p[34])
	if len(p) < packedHead+n {
		return fmt.Errorf("packed row: blob of %d bytes in %d", n, len(p))
	}
	h, err := blob.FromBytes(p[packedHead : packedHead+n])
	if err != nil {
		return fmt.Errorf("packed row: %w", err)
	}
	r.Kind = Kind(p[0])
	r.Size = int64(binary.BigEndian.Uint64(p[1:]))
	r.Mtime = fromNanos(int64(binary.BigEndian.Uint64(p[9:])))
	r.Ctime = fromNanos(int64(binary.BigEndian.Uint64(p[17:])))
	r.Inode = binary.BigEndian.Uint64(p[25:])
	r.Opaque = p[33] != 0
	r.Blob = h
	r.Origin = string(p[packedHead+n:])
	return nil
}

// Disagreement is an index row whose packed copy (what catch-up reads)
// says something else than its columns (what lookups read).
type Disagreement struct {
	Arena, Path string
	Detail      string
}

// CheckPacked lists the rows whose packed copy disagrees with their
// columns: only a damaged database (or a hand edit) has any.
func (ix *Index) CheckPacked(ctx context.Context) ([]Disagreement, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT `+rowCols+`, packed FROM index_entry ORDER BY arena, key`)
	if err != nil {
		return nil, fmt.Errorf("index check packed: %w", err)
	}
	defer rows.Close()
	var out []Disagreement
	for rows.Next() {
		var r Row
		var mt, ct, ino int64
		var b, packed []byte
		var opaque int
		if err := rows.Scan(&r.Arena, &r.Path, &r.Kind, &r.Size, &mt, &ct, &ino, &b, &r.Origin, &opaque, &packed); err != nil {
			return nil, fmt.Errorf("index check packed: %w", err)
		}
		r.Mtime, r.Ctime, r.Inode, r.Opaque = fromNanos(mt), fromNanos(ct), uint64(ino), opaque != 0
		var err error
		if r.Blob, err = blob.FromBytes(b); err != nil {
			out = append(out, Disagreement{r.Arena, r.Path, err.Error()})
			continue
		}
		var p Row
		if err := unpackRow(packed, &p); err != nil {
			out = append(out, Disagreement{r.Arena, r.Path, err.Error()})
			continue
		}
		p.Arena, p.Path = r.Arena, r.Path
		if !bytes.Equal(packRow(p), packRow(r)) {
			out = append(out, Disagreement{r.Arena, r.Path, fmt.Sprintf("packed copy %+v, columns %+v", p, r)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index check packed: %w", err)
	}
	return out, nil
}
