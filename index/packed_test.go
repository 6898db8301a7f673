package index

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/sqlitedb"
)

// packedRows are rows with every field that Scan reads from the packed
// column at an edge: negative and zero times, a zero blob, a huge inode,
// unicode and long origins.
func packedRows() []Row {
	return []Row{
		{Arena: "A", Path: "a", Kind: File, Size: 1 << 40, Mtime: time.Unix(1700000000, 123), Ctime: time.Unix(1700000001, 999999999), Inode: 1<<63 + 5, Blob: blob.Of([]byte("a"))},
		{Arena: "A", Path: "a b/ü", Kind: Meta, Size: 7, Mtime: time.Unix(-86400, 1), Origin: "B/ü/" + strings.Repeat("x", 300), Blob: blob.Of([]byte("m"))},
		{Arena: "A", Path: "d", Kind: Dir, Inode: 42, Origin: "\x00\xfbredirect", Opaque: true},
		{Arena: "A", Path: "d/w", Kind: Whiteout},
		{Arena: "A", Path: "d/x", Kind: Hidden, Size: 0, Mtime: time.Unix(1, 0), Blob: blob.Of([]byte("h"))},
	}
}

func TestScanReadsWhatCommitStored(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	want := packedRows()
	if _, err := ix.Commit(ctx, ChangeSet{Put: want}); err != nil {
		t.Fatal(err)
	}
	scanned, err := ix.Rows(ctx, "A", "")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		got, ok, err := ix.Get(ctx, "A", w.Path)
		if err != nil || !ok {
			t.Fatalf("Get %s: %v, %v", w.Path, ok, err)
		}
		if !sameIndexRow(got, w) || !sameIndexRow(scanned[i], w) {
			t.Errorf("row %s:\n want %+v\n get  %+v\n scan %+v", w.Path, w, got, scanned[i])
		}
	}
}

// TestPackedMigrationFillsOldRows: an index written before the packed
// column existed scans the same rows after the migration adds it.
func TestPackedMigrationFillsOldRows(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "real.db")
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := fstest.MapFS{}
	ents, err := fs.ReadDir(schema, "schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() >= "005" {
			continue
		}
		body, err := fs.ReadFile(schema, "schema/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		old["schema/"+e.Name()] = &fstest.MapFile{Data: body}
	}
	if err := sqlitedb.Migrate(ctx, db, "index", old, "schema"); err != nil {
		t.Fatal(err)
	}
	want := packedRows()
	for _, r := range want {
		opaque := 0
		if r.Opaque {
			opaque = 1
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO index_entry(key, `+rowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			Key(r.Path), r.Arena, r.Path, int(r.Kind), r.Size, nanos(r.Mtime), nanos(r.Ctime), int64(r.Inode),
			r.Blob.Bytes(), r.Origin, opaque); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ix.Rows(ctx, "A", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows after the migration, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameIndexRow(got[i], want[i]) {
			t.Errorf("row %s after the migration:\n got  %+v\n want %+v", want[i].Path, got[i], want[i])
		}
	}
}

// TestScanRefusesCorruptPackedRow: a damaged packed column is an error
// naming the row, not a row with made-up fields.
func TestScanRefusesCorruptPackedRow(t *testing.T) {
	ctx := context.Background()
	ix, _ := openTest(t)
	if _, err := ix.Commit(ctx, ChangeSet{Put: packedRows()}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{}, {1, 2, 3}, append(make([]byte, packedHead-1), 31)} {
		if _, err := ix.db.ExecContext(ctx, `UPDATE index_entry SET packed=? WHERE key=?`, bad, Key("d/w")); err != nil {
			t.Fatal(err)
		}
		_, err := ix.Rows(ctx, "A", "")
		if err == nil || !strings.Contains(err.Error(), "d/w") {
			t.Errorf("packed %x: Rows error %v, want one naming d/w", bad, err)
		}
	}
}

func FuzzUnpackRow(f *testing.F) {
	for _, r := range packedRows() {
		f.Add(packRow(r))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var r Row
		if err := unpackRow(p, &r); err != nil {
			return
		}
		var again Row
		if err := unpackRow(packRow(r), &again); err != nil || !sameIndexRow(again, r) {
			t.Fatalf("%x: unpacked %+v, packed and unpacked again %+v (%v)", p, r, again, err)
		}
	})
}

func sameIndexRow(a, b Row) bool {
	return a.Arena == b.Arena && a.Path == b.Path && a.Kind == b.Kind && a.Size == b.Size &&
		a.Mtime.Equal(b.Mtime) && a.Ctime.Equal(b.Ctime) && a.Inode == b.Inode && a.Blob == b.Blob &&
		a.Origin == b.Origin && a.Opaque == b.Opaque
}
