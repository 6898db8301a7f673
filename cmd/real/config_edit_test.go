package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/realsync/real/config"
)

// real peer add and real arena add keep the comments of a hand-edited
// real.toml (they were silently dropped by rewriting the whole file).
func TestAddKeepsComments(t *testing.T) {
	a, b := newStore(t, "alice"), newStore(t, "bob")
	file := filepath.Join(a, "real.toml")
	text := "# alice's peer, edited by hand\nname = \"alice\"   # must match the other peers' pins\nlisten = \"127.0.0.1:0\"\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	mustReal(t, "peer", "add", "--store", a, "--name", "bob", "--address", "127.0.0.1:7401", "--key", strings.TrimSpace(mustReal(t, "key", "--store", b)))
	mustReal(t, "arena", "add", "--store", a, "--name", "docs")
	got, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(got), text) || !strings.Contains(string(got), `name = "bob"`) || !strings.Contains(string(got), `name = "docs"`) {
		t.Fatalf("real.toml after peer add and arena add:\n%s", got)
	}
	if code, out, errs := realCmd(t, "verify", "--store", a); code != 0 {
		t.Fatalf("verify after the edits: exit %d: %s%s", code, out, errs)
	}
}

// real peer add and real arena add run in parallel (a script setting up a
// household) all land: each one's read-modify-write of real.toml holds a
// lock (without it, of 8 parallel peer adds 3 survived, most exiting 0).
func TestParallelAdds(t *testing.T) {
	a := newStore(t, "alice")
	const n = 8
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strings.TrimSpace(mustReal(t, "key", "--store", newStore(t, fmt.Sprintf("p%d", i))))
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if code, _, errs := realCmd(t, "peer", "add", "--store", a, "--name", fmt.Sprintf("p%d", i), "--key", keys[i]); code != 0 {
				t.Errorf("peer add p%d: exit %d: %s", i, code, errs)
			}
		}()
		go func() {
			defer wg.Done()
			if code, _, errs := realCmd(t, "arena", "add", "--store", a, "--name", fmt.Sprintf("arena%d", i)); code != 0 {
				t.Errorf("arena add arena%d: exit %d: %s", i, code, errs)
			}
		}()
	}
	wg.Wait()
	cfg, err := config.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != n || len(cfg.Arenas) != n {
		t.Fatalf("after %d parallel peer adds and arena adds: %d peers, %d arenas", n, len(cfg.Peers), len(cfg.Arenas))
	}
}
