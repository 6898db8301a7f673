package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
