package real

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/sqlitedb"
)

// dirRemote is a Remote that reads a plain lower directory (standing in for
// the Unreal): one top-level dir per arena.
type dirRemote struct {
	root string
	mu   sync.Mutex
	hash map[string]blob.Hash
}

func newDirRemote(root string) *dirRemote {
	return &dirRemote{root: root, hash: map[string]blob.Hash{}}
}

func (d *dirRemote) file(full string, fi os.FileInfo) (RemoteFile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := fmt.Sprintf("%s %d %d", full, fi.Size(), fi.ModTime().UnixNano())
	h, ok := d.hash[key]
	if !ok {
		var err error
		if h, _, err = blob.File(full); err != nil {
			return RemoteFile{}, err
		}
		d.hash[key] = h
	}
	return RemoteFile{Size: fi.Size(), Mtime: fi.ModTime(), Blob: h}, nil
}

func (d *dirRemote) Lookup(ctx context.Context, arena, path string) (RemoteFile, bool, error) {
	full := filepath.Join(d.root, arena, path)
	fi, err := os.Lstat(full)
	if os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.Mode().IsRegular()) {
		return RemoteFile{}, false, nil
	}
	if err != nil {
		return RemoteFile{}, false, err
	}
	f, err := d.file(full, fi)
	return f, err == nil, err
}

func (d *dirRemote) Walk(ctx context.Context, arena, dir string, fn func(string, RemoteFile) error) error {
	base := filepath.Join(d.root, arena)
	start := filepath.Join(base, dir)
	fi, err := os.Lstat(start)
	if os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.IsDir()) {
		return nil // like the Unreal cache: nothing below a file or a missing dir
	}
	var out []string
	err = filepath.WalkDir(start, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(base, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(out, func(i, j int) bool { return index.Less(out[i], out[j]) })
	for _, p := range out {
		full := filepath.Join(base, p)
		fi, err := os.Lstat(full)
		if err != nil {
			continue
		}
		f, err := d.file(full, fi)
		if err != nil {
			return err
		}
		if err := fn(p, f); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	t      testing.TB
	dir    string
	upper  string
	lower  string
	dbFile string
	ix     *index.Index
	r      *Real
	remote *dirRemote
	seen   uint64 // history already checked
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newEnv makes STORE-like dirs upper/ lower/ work/ and an index in real.db.
func newEnv(t testing.TB, arenas ...string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, upper: filepath.Join(dir, "upper"), lower: filepath.Join(dir, "lower"), dbFile: filepath.Join(dir, "real.db")}
	for _, d := range []string{e.upper, e.lower, filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range arenas {
		if err := os.MkdirAll(filepath.Join(e.lower, a), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.remote = newDirRemote(e.lower)
	e.open(arenas)
	return e
}

// open (re)opens the database and a Real over it, as a restarted daemon would.
func (e *env) open(arenas []string) {
	e.t.Helper()
	db, err := sqlitedb.Open(e.dbFile)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	if e.ix, err = index.Open(context.Background(), db, nil); err != nil {
		e.t.Fatal(err)
	}
	e.r = New(Layers{Upper: e.upper, Lower: e.lower, Arenas: arenas}, e.ix, e.remote, testLogger(e.t))
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func h(s string) blob.Hash { return blob.Of([]byte(s)) }

// want describes an expected entry; Blob/PrevBlob compared, Mtime not.
type want struct {
	kind       history.Kind
	arena      string
	path       string
	blob, prev blob.Hash
}

func link(arena, path string, b, prev blob.Hash) want {
	return want{history.Link, arena, path, b, prev}
}
func unlink(arena, path string, prev blob.Hash) want {
	return want{history.Unlink, arena, path, blob.Hash{}, prev}
}

func (w want) String() string {
	return fmt.Sprintf("%s %s/%s blob=%.8s prev=%.8s", w.kind, w.arena, w.path, w.blob.String(), w.prev.String())
}

func asWant(e history.Entry) want {
	return want{e.Kind, e.Arena, e.Path, e.Blob, e.PrevBlob}
}

// newEntries returns the history appended since the last call.
func (e *env) newEntries() []history.Entry {
	e.t.Helper()
	es, err := e.ix.Since(context.Background(), e.seen, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(es) > 0 {
		e.seen = es[len(es)-1].Index
	}
	return es
}

func sortWants(ws []want) {
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].path != ws[j].path {
			return ws[i].path < ws[j].path
		}
		return ws[i].kind < ws[j].kind
	})
}

func sameWants(got []history.Entry, ws []want) (string, bool) {
	g := make([]want, len(got))
	for i, e := range got {
		g[i] = asWant(e)
	}
	w := append([]want{}, ws...)
	sortWants(g)
	sortWants(w)
	ok := len(g) == len(w)
	for i := 0; ok && i < len(g); i++ {
		ok = g[i] == w[i]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d entries:\n", len(g))
	for i, x := range g {
		if i == 40 {
			b.WriteString("  ...\n")
			break
		}
		fmt.Fprintf(&b, "  %s\n", x)
	}
	fmt.Fprintf(&b, "want %d:\n", len(w))
	for i, x := range w {
		if i == 40 {
			b.WriteString("  ...\n")
			break
		}
		fmt.Fprintf(&b, "  %s\n", x)
	}
	return b.String(), ok
}

// expect checks that the entries appended since the last check are exactly ws (any order).
func (e *env) expect(ws ...want) {
	e.t.Helper()
	got := e.newEntries()
	if msg, ok := sameWants(got, ws); !ok {
		e.t.Fatalf("history mismatch\n%s", msg)
	}
	for _, g := range got {
		if err := g.Check(time.Now()); err != nil {
			e.t.Errorf("entry %d does not pass Check: %v", g.Index, err)
		}
	}
}

// eventually waits (deadline) until the entries appended since the last
// check are exactly ws, in any order.
func (e *env) eventually(ws ...want) {
	e.t.Helper()
	var got []history.Entry
	deadline := time.Now().Add(20 * time.Second)
	for {
		es, err := e.ix.Since(context.Background(), e.seen, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		got = foldEmptyCreates(es, ws)
		if _, ok := sameWants(got, ws); ok || time.Now().After(deadline) {
			break
		}
		if len(got) > len(ws) {
			break
		}
		select {
		case <-e.ix.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(got) > 0 {
		e.seen = got[len(got)-1].Index
	}
	if msg, ok := sameWants(got, ws); !ok {
		e.t.Fatalf("history mismatch (after waiting)\n%s", msg)
	}
}

// foldEmptyCreates folds a Link of empty content at a path, followed by a
// Link there whose previous content is that empty one, into the second
// (with the first's previous content), unless ws asks for empty content
// at that path. write creates a file and then writes it: with the test's
// goroutine descheduled in between for longer than the watcher's
// settleQuiet (a loaded CI machine), the watcher records the empty file
// first. That is one change of the user's, in two steps.
func foldEmptyCreates(es []history.Entry, ws []want) []history.Entry {
	empty := h("")
	wantsEmpty := map[string]bool{}
	for _, w := range ws {
		if w.blob == empty {
			wantsEmpty[w.arena+"/"+w.path] = true
		}
	}
	out := make([]history.Entry, 0, len(es))
	for i, e := range es {
		if e.Kind == history.Link && e.Blob == empty && !wantsEmpty[e.Arena+"/"+e.Path] {
			if j := nextAt(es, i); j >= 0 && es[j].Kind == history.Link && es[j].PrevBlob == empty {
				es[j].PrevBlob = e.PrevBlob
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// nextAt is the index of the next entry after i at es[i]'s path, or -1.
func nextAt(es []history.Entry, i int) int {
	for j := i + 1; j < len(es); j++ {
		if es[j].Arena == es[i].Arena && es[j].Path == es[i].Path {
			return j
		}
	}
	return -1
}

func benchReal(b *testing.B, e *env) (*Real, func()) {
	b.Helper()
	db, err := sqlitedb.Open(e.dbFile)
	if err != nil {
		b.Fatal(err)
	}
	ix, err := index.Open(context.Background(), db, nil)
	if err != nil {
		b.Fatal(err)
	}
	return New(Layers{Upper: e.upper, Lower: e.lower, Arenas: []string{"A"}}, ix, e.remote, nil), func() { db.Close() }
}

// eventuallyFinal waits (deadline) until the last entry appended for each
// path of ws is that want, and no other path has entries. Intermediate
// states a watcher may see (a file created, then written) are allowed.
func (e *env) eventuallyFinal(ws ...want) {
	e.t.Helper()
	byPath := map[string]want{}
	for _, w := range ws {
		byPath[w.arena+"/"+w.path] = w
	}
	last := map[string]want{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		es, err := e.ix.Since(context.Background(), e.seen, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, x := range es {
			w := asWant(x)
			key := w.arena + "/" + w.path
			if _, ok := byPath[key]; !ok {
				e.t.Fatalf("unexpected entry %s", w)
			}
			last[key] = w
			e.seen = x.Index
		}
		ok := len(last) == len(byPath)
		for k, w := range byPath {
			if last[k].kind != w.kind || last[k].blob != w.blob {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after waiting, %d of %d paths have their final entry", len(last), len(byPath))
		}
		select {
		case <-e.ix.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
