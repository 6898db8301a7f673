package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/privtest"
	"github.com/realsync/real/sqlitedb"
	"github.com/realsync/real/unreal"
)

// real status of a stopped peer counts the remote entries its cache holds,
// as the running peer does (it said 0 whatever the cache held).
func TestStatusStoppedCountsRemoteEntries(t *testing.T) {
	a := newStore(t, "alice")
	b := newStore(t, "bob")
	mustReal(t, "arena", "add", "--store", a, "--name", "docs")
	mustReal(t, "peer", "add", "--store", a, "--name", "bob", "--key", strings.TrimSpace(mustReal(t, "key", "--store", b)))

	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(a, "real.db"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := unreal.OpenCache(ctx, db, []string{"docs"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-time.Hour)
	var batch []history.Entry
	for i, p := range []string{"one", "two", "sub/three"} {
		batch = append(batch, history.Entry{Index: uint64(i + 1), Kind: history.Link, Arena: "docs", Path: p,
			Mtime: mt, Size: int64(len(p)), Blob: blob.Of([]byte(p))})
	}
	if _, err := c.Apply(ctx, "bob", batch); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var st status
	if err := json.Unmarshal([]byte(mustReal(t, "status", "--store", a, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Running || st.UnrealEntries != 3 || len(st.Peers) != 1 || st.Peers[0].Received != 3 {
		t.Fatalf("status of a stopped peer with 3 remote entries from bob: %+v", st)
	}
	if out := mustReal(t, "status", "--store", a); !strings.Contains(out, "3 remote entries") {
		t.Fatalf("status text: %q", out)
	}
}

// real status --json of a running peer without arenas lists "arenas": []
// as the stopped one does (it said null: the control reply's empty list).
func TestStatusRunningNoArenas(t *testing.T) {
	privtest.Require(t)
	store := newStore(t, "solo")
	runUntilCleanup(t, store)
	out := mustReal(t, "status", "--store", store, "--json")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["running"]) != "true" || string(raw["arenas"]) != "[]" || string(raw["peers"]) != "[]" {
		t.Fatalf("status --json of a running peer without arenas or peers:\n%s", out)
	}
}

// real status of a store that never ran lists its configuration with
// nothing counted, and does not make a database for it.
func TestStatusFreshStoreMakesNoDatabase(t *testing.T) {
	a := newStore(t, "alice")
	mustReal(t, "arena", "add", "--store", a, "--name", "docs")
	var st status
	if err := json.Unmarshal([]byte(mustReal(t, "status", "--store", a, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Running || st.Name != "alice" || len(st.Arenas) != 1 || st.Arenas[0] != "docs" || st.History != 0 || st.Peers == nil {
		t.Fatalf("status of a fresh store: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(a, "real.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("real status made real.db on a fresh store: %v", err)
	}
}

// real status of a stopped peer only reads the store: it neither applies
// the schema migrations the next real run would nor removes the remote
// entries of an arena taken out of real.toml (before, it did both, so a
// look at the status of a store with a mistaken real.toml lost that
// arena's cache).
func TestStatusStoppedChangesNothing(t *testing.T) {
	a := newStore(t, "alice")
	b := newStore(t, "bob")
	mustReal(t, "arena", "add", "--store", a, "--name", "docs")
	mustReal(t, "peer", "add", "--store", a, "--name", "bob", "--key", strings.TrimSpace(mustReal(t, "key", "--store", b)))

	ctx := context.Background()
	file := filepath.Join(a, "real.db")
	db, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := unreal.OpenCache(ctx, db, []string{"docs", "old"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-time.Hour)
	var batch []history.Entry
	for i, p := range []string{"one", "two"} {
		batch = append(batch, history.Entry{Index: uint64(i + 1), Kind: history.Link, Arena: "old", Path: p,
			Mtime: mt, Size: int64(len(p)), Blob: blob.Of([]byte(p))})
	}
	batch = append(batch, history.Entry{Index: 3, Kind: history.Link, Arena: "docs", Path: "kept",
		Mtime: mt, Size: 4, Blob: blob.Of([]byte("kept"))})
	if _, err := c.Apply(ctx, "bob", batch); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	migs := count(`SELECT count(*) FROM schema_migrations`)

	var st status
	if err := json.Unmarshal([]byte(mustReal(t, "status", "--store", a, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Running || st.UnrealEntries != 1 || len(st.Peers) != 1 || st.Peers[0].Received != 3 || st.History != 0 {
		t.Fatalf("status of a stopped peer with 1 remote entry in docs from bob: %+v", st)
	}
	if n := count(`SELECT count(*) FROM unreal_entries WHERE arena = 'old'`); n != 2 {
		t.Fatalf("real status removed the entries of arena old: %d left of 2", n)
	}
	if n := count(`SELECT count(*) FROM schema_migrations`); n != migs {
		t.Fatalf("real status applied migrations: %d rows, had %d", n, migs)
	}
	db.Close()
}

// real status of a peer that a laptop (no address, no listen) calls shows
// the laptop's reverse connection up, in the text and in --json, and so
// does the laptop's status of that peer.
func TestStatusShowsReverseConnection(t *testing.T) {
	privtest.Require(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	office := filepath.Join(t.TempDir(), "office")
	mustReal(t, "init", "--store", office, "--name", "office", "--listen", addr)
	laptop := filepath.Join(t.TempDir(), "laptop")
	mustReal(t, "init", "--store", laptop, "--name", "laptop")
	mustReal(t, "peer", "add", "--store", office, "--name", "laptop", "--key", strings.TrimSpace(mustReal(t, "key", "--store", laptop)))
	mustReal(t, "peer", "add", "--store", laptop, "--name", "office", "--address", addr, "--key", strings.TrimSpace(mustReal(t, "key", "--store", office)))
	runUntilCleanup(t, office)
	runUntilCleanup(t, laptop)
	for _, c := range []struct{ store, peer string }{{office, "laptop"}, {laptop, "office"}} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var st status
			if err := json.Unmarshal([]byte(mustReal(t, "status", "--store", c.store, "--json")), &st); err != nil {
				t.Fatal(err)
			}
			if len(st.Peers) == 1 && st.Peers[0].Name == c.peer && st.Peers[0].Reverse {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status of %s: no reverse connection with %s up after 20 s: %+v", c.store, c.peer, st.Peers)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if out := mustReal(t, "status", "--store", c.store); !strings.Contains(out, "reverse connection up") {
			t.Errorf("status text of %s does not show the reverse connection:\n%s", c.store, out)
		}
	}
}
