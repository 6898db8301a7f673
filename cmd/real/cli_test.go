package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realsync/real/privtest"
)

// realCmd runs the CLI in-process and returns exit code, stdout and stderr.
func realCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustReal(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := realCmd(t, args...)
	if code != 0 {
		t.Fatalf("real %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func newStore(t *testing.T, name string) string {
	t.Helper()
	s := filepath.Join(t.TempDir(), name)
	mustReal(t, "init", "--store", s, "--name", name, "--listen", "127.0.0.1:0")
	return s
}

func TestInitKeyPeerArena(t *testing.T) {
	a, b := newStore(t, "alice"), newStore(t, "bob")
	for _, d := range []string{"upper", "work", "lower", "real.toml", "identity.key"} {
		if _, err := os.Stat(filepath.Join(a, d)); err != nil {
			t.Errorf("init did not create %s: %v", d, err)
		}
	}
	fi, _ := os.Stat(filepath.Join(a, "identity.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.key mode %o", fi.Mode().Perm())
	}
	keyB := strings.TrimSpace(mustReal(t, "key", "--store", b))
	if strings.Count(mustReal(t, "key", "--store", b), "\n") != 1 || !strings.HasPrefix(keyB, "ed25519:") {
		t.Fatalf("real key printed %q, want one line with the key", keyB)
	}
	mustReal(t, "peer", "add", "--store", a, "--name", "bob", "--address", "127.0.0.1:7401", "--key", keyB)
	mustReal(t, "arena", "add", "--store", a, "--name", "media/music", "--policy", "own")
	toml, _ := os.ReadFile(filepath.Join(a, "real.toml"))
	for _, want := range []string{keyB, "media/music", "127.0.0.1:7401"} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("real.toml lacks %q:\n%s", want, toml)
		}
	}
	code, out, _ := realCmd(t, "status", "--store", a, "--json")
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Peers) != 1 || st.Peers[0].Name != "bob" {
		t.Fatalf("status --json = %s (%v)", out, err)
	}
}

func TestBadInput(t *testing.T) {
	a := newStore(t, "alice")
	keyA := strings.TrimSpace(mustReal(t, "key", "--store", a))
	before, _ := os.ReadFile(filepath.Join(a, "real.toml"))
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"init over existing store", []string{"init", "--store", a, "--name", "x", "--listen", "127.0.0.1:1"}, exitFail, "already exists"},
		{"init without name", []string{"init", "--store", filepath.Join(t.TempDir(), "s")}, exitUsage, "--name"},
		{"init bad name", []string{"init", "--store", filepath.Join(t.TempDir(), "s"), "--name", "../x"}, exitFail, "peer name"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"key", "--store", a, "--colour"}, exitUsage, "colour"},
		{"arena prefix of another", []string{"arena", "add", "--store", a, "--name", "media"}, 0, ""},
		{"arena under it", []string{"arena", "add", "--store", a, "--name", "media/music"}, exitFail, "prefix"},
		{"arena with dotdot", []string{"arena", "add", "--store", a, "--name", "../x"}, exitFail, "arena"},
		{"own key as peer", []string{"peer", "add", "--store", a, "--name", "me", "--key", keyA}, exitFail, "own key"},
		{"bad peer key", []string{"peer", "add", "--store", a, "--name", "bob", "--key", "nope"}, exitFail, "key"},
		{"missing store", []string{"key", "--store", filepath.Join(t.TempDir(), "none")}, exitFail, "identity key"},
		{"bad mark", []string{"mark", "hoard", "/tmp"}, exitUsage, "hoard"},
	}
	for _, c := range cases {
		code, _, errs := realCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d with %q", c.name, code, errs, c.code, c.want)
		}
		if c.code != 0 && strings.Count(strings.TrimSpace(errs), "\n") > 2 {
			t.Errorf("%s: error is not one clear sentence: %q", c.name, errs)
		}
	}
	after, _ := os.ReadFile(filepath.Join(a, "real.toml"))
	if !strings.Contains(string(after), "media") || strings.Contains(string(after), "music") || !bytes.HasPrefix(after, before[:10]) {
		t.Errorf("failed commands changed real.toml:\n%s", after)
	}
}

func TestInitLeavesNothingOnFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	if code, _, _ := realCmd(t, "init", "--store", dir, "--name", "ok", "--listen", "bad"); code == 0 {
		t.Fatal("init accepted a bad listen address")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("failed init left %s behind", dir)
	}
}

func TestVerifyCodes(t *testing.T) {
	a := newStore(t, "alice")
	if code, out, errs := realCmd(t, "verify", "--store", a); code != 0 {
		t.Fatalf("fresh store: verify exit %d: %s %s", code, out, errs)
	}
	os.Chmod(filepath.Join(a, "identity.key"), 0o644)
	code, out, _ := realCmd(t, "verify", "--store", a, "--json")
	var fs []map[string]string
	if err := json.Unmarshal([]byte(out), &fs); err != nil || code != 1 || len(fs) != 1 || fs[0]["code"] != "key-mode" {
		t.Fatalf("verify after chmod: exit %d, %s", code, out)
	}
	if code, _, _ := realCmd(t, "verify", "--store", filepath.Join(t.TempDir(), "none")); code != 2 {
		t.Fatalf("verify of a missing store: exit %d, want 2", code)
	}
}

func TestRunRefuses(t *testing.T) {
	privtest.Require(t)
	a := newStore(t, "alice")
	mnt := filepath.Join(t.TempDir(), "mnt")

	// A port in use: one clear error, nothing left mounted.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := filepath.Join(t.TempDir(), "busy")
	mustReal(t, "init", "--store", busy, "--name", "busy", "--listen", l.Addr().String())
	code, _, errs := realCmd(t, "run", "--store", busy, "--mount", mnt)
	if code != exitFail || !strings.Contains(errs, l.Addr().String()) {
		t.Errorf("run on a busy port: exit %d, %q", code, errs)
	}
	assertNotMounted(t, mnt, filepath.Join(busy, "lower"))

	// A corrupt configuration.
	os.WriteFile(filepath.Join(a, "real.toml"), []byte("name = \"alice\"\nbogus = 1\n"), 0o644)
	code, _, errs = realCmd(t, "run", "--store", a, "--mount", mnt)
	if code != exitFail || !strings.Contains(errs, "bogus") {
		t.Errorf("run with corrupt config: exit %d, %q", code, errs)
	}
	// A missing configuration.
	code, _, errs = realCmd(t, "run", "--store", filepath.Join(t.TempDir(), "none"), "--mount", mnt)
	if code != exitFail || !strings.Contains(errs, "real.toml") {
		t.Errorf("run without config: exit %d, %q", code, errs)
	}
	assertNotMounted(t, mnt, filepath.Join(a, "lower"))
}

func assertNotMounted(t *testing.T, paths ...string) {
	t.Helper()
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, p := range paths {
		if strings.Contains(string(b), " "+p+" ") {
			t.Errorf("%s is left mounted", p)
		}
	}
}

// --help works on every command, as the contract says: it prints the
// command's usage on stdout and exits 0 (real mark --help was a usage error).
func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		for _, h := range []string{"--help", "-h"} {
			args := append(strings.Fields(c.name), h)
			code, _, errs := realCmd(t, args...)
			if code != exitOK || errs != "" {
				t.Errorf("real %s: exit %d, stderr %q; want exit 0 and no error", strings.Join(args, " "), code, errs)
			}
		}
	}
}
