package verify

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/config"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/index"
	"github.com/realsync/real/sqlitedb"
)

// store makes a store with arena "a" whose upper has the given files, all
// indexed as they are.
func store(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"upper/a", "work"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	if _, err := identity.Generate(filepath.Join(dir, "identity.key")); err != nil {
		t.Fatal(err)
	}
	if err := (&config.Config{Name: "p", Arenas: []config.Arena{{Name: "a"}}}).Save(dir); err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(filepath.Join(dir, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ix, err := index.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cs index.ChangeSet
	for name, body := range files {
		p := filepath.Join(dir, "upper/a", name)
		os.WriteFile(p, []byte(body), 0o644)
		fi, _ := os.Stat(p)
		cs.Put = append(cs.Put, index.Row{Arena: "a", Path: name, Kind: index.File, Size: fi.Size(), Mtime: fi.ModTime(), Blob: blob.Of([]byte(body))})
	}
	if _, err := ix.Commit(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	return dir
}

func codes(t *testing.T, dir string) []string {
	t.Helper()
	fs, err := Store(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var cs []string
	for _, f := range fs {
		cs = append(cs, f.Code+" "+filepath.Base(f.Path))
	}
	sort.Strings(cs)
	return cs
}

func TestClean(t *testing.T) {
	dir := store(t, map[string]string{"x": "1", "y": "22"})
	if c := codes(t, dir); len(c) != 0 {
		t.Fatalf("clean store has findings %v", c)
	}
}

func TestFindings(t *testing.T) {
	dir := store(t, map[string]string{"gone": "1", "changed": "22", "ok": "3"})
	up := filepath.Join(dir, "upper/a")
	os.Remove(filepath.Join(up, "gone"))
	os.WriteFile(filepath.Join(up, "changed"), []byte("longer now"), 0o644)
	os.Chtimes(filepath.Join(up, "changed"), time.Now(), time.Now().Add(-time.Hour))
	os.WriteFile(filepath.Join(up, "new"), []byte("n"), 0o644)
	os.Chmod(filepath.Join(dir, "identity.key"), 0o640)
	os.Remove(filepath.Join(dir, "work"))
	want := []string{"index-differ changed", "index-stale gone", "key-mode identity.key", "unindexed new", "work-missing work"}
	got := codes(t, dir)
	if len(got) != len(want) {
		t.Fatalf("findings %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("findings %v, want %v", got, want)
		}
	}
}

func TestCannotCheck(t *testing.T) {
	if _, err := Store(context.Background(), t.TempDir()); err == nil {
		t.Fatal("a directory without real.toml was checked")
	}
}

func TestCorruptDatabase(t *testing.T) {
	dir := store(t, map[string]string{"x": "1"})
	f := filepath.Join(dir, "real.db")
	os.Remove(f + "-wal")
	os.Remove(f + "-shm")
	b, _ := os.ReadFile(f)
	for i := 4096; i < len(b); i++ { // keep the header page, garble the rest
		b[i] ^= 0x5a
	}
	os.WriteFile(f, b, 0o644)
	fs, err := Store(context.Background(), dir)
	if err == nil && (len(fs) == 0 || fs[0].Code != CodeDBIntegrity) {
		t.Fatalf("corrupt database: findings %v, err %v", fs, err)
	}
}

// TestRowDisagreesWithPackedCopy: a row whose columns and packed copy (what
// catch-up reads) tell different sizes is named as a bad row, and so is one
// whose packed copy cannot be decoded; the other rows are not.
func TestRowDisagreesWithPackedCopy(t *testing.T) {
	dir := store(t, map[string]string{"sized": "1", "garbled": "22", "ok": "333"})
	db, err := sqlitedb.Open(filepath.Join(dir, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE index_entry SET size = size + 1 WHERE path = 'sized'`,
		`UPDATE index_entry SET packed = x'0102' WHERE path = 'garbled'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	got := codes(t, dir)
	want := map[string]bool{CodeBadRow + " sized": true, CodeBadRow + " garbled": true}
	for _, c := range got {
		if strings.HasSuffix(c, " ok") {
			t.Errorf("intact row flagged: %v", got)
		}
		delete(want, c)
	}
	if len(want) != 0 {
		t.Errorf("findings %v, missing %v", got, want)
	}
}

// TestOlderSchemaStopped: with the daemon stopped, a real.db whose schema is
// older than this binary's is not upgraded by verify (it only reads): the
// store cannot be checked, the error says why, and real.db is unchanged.
func TestOlderSchemaStopped(t *testing.T) {
	dir := store(t, map[string]string{"x": "1"})
	file := filepath.Join(dir, "real.db")
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	// The schema as a binary before index migration 006 left it.
	for _, q := range []string{
		`DROP INDEX index_entry_redirect`,
		`DELETE FROM schema_migrations WHERE component = 'index' AND version = 6`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	_, err = Store(context.Background(), dir)
	if !errors.Is(err, ErrCannotCheck) || !strings.Contains(err.Error(), "older schema") {
		t.Fatalf("verify of an older schema: %v, want ErrCannotCheck saying the schema is older", err)
	}
	db, err = sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE component = 'index' AND version = 6`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("verify changed real.db: migration 006 recorded (%d, %v)", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'index_entry_redirect'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("verify changed real.db: migration 006 applied (%d, %v)", n, err)
	}
}

// TestOlderSchemaRunning: while a daemon runs (its control socket answers)
// with an older schema than this binary's (an old real still running after
// an upgrade), verify does not migrate its database under it either: it
// cannot check, and says to restart real run.
func TestOlderSchemaRunning(t *testing.T) {
	dir := store(t, map[string]string{"x": "1"})
	file := filepath.Join(dir, "real.db")
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() // the daemon's connection, open throughout
	for _, q := range []string{
		`DROP INDEX index_entry_redirect`,
		`DELETE FROM schema_migrations WHERE component = 'index' AND version = 6`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("unix", filepath.Join(dir, controlSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = Store(context.Background(), dir)
	if !errors.Is(err, ErrCannotCheck) || !strings.Contains(err.Error(), "restart real run") {
		t.Fatalf("verify beside an older running daemon: %v, want ErrCannotCheck saying to restart real run", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE component = 'index' AND version = 6`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("verify changed the running daemon's real.db: migration 006 recorded (%d, %v)", n, err)
	}
}
