package harness_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/realsync/real/harness"
	"github.com/realsync/real/privtest"
)

// fakeReal is a stand-in for the real binary with the same command line:
// init/key/peer add/arena add write files in the store, and run mounts a
// loopback fuse at STORE/lower and an overlay at the mount dir, with a
// directory per arena, until SIGTERM/SIGINT. It syncs nothing: it lets
// the household's life cycle be tested without the real binary.
func fakeReal(args []string) int {
	flag := func(name string) string {
		for i, a := range args {
			if a == "--"+name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	store := flag("store")
	if store == "" {
		fmt.Fprintln(os.Stderr, "fake real: --store is required")
		return 2
	}
	var err error
	switch {
	case len(args) > 0 && args[0] == "init":
		for _, d := range []string{"upper", "work", "lower", "fakelower"} {
			if err = os.MkdirAll(filepath.Join(store, d), 0o755); err != nil {
				break
			}
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(store, "real.toml"), []byte("name = \""+flag("name")+"\"\n"), 0o644)
		}
	case len(args) > 0 && args[0] == "key":
		fmt.Println("ed25519:fake-" + filepath.Base(filepath.Dir(store)))
	case len(args) > 1 && args[0] == "peer" && args[1] == "add":
		err = appendLine(filepath.Join(store, "peers"), flag("name")+" "+flag("address")+" "+flag("key"))
	case len(args) > 1 && args[0] == "arena" && args[1] == "add":
		err = appendLine(filepath.Join(store, "arenas"), flag("name"))
	case len(args) > 0 && args[0] == "run":
		err = fakeRun(store, flag("mount"))
	default:
		fmt.Fprintf(os.Stderr, "fake real: unknown command %q\n", args)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake real:", err)
		return 1
	}
	return 0
}

func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, line)
	return err
}

func fakeRun(store, mount string) error {
	arenas, err := os.ReadFile(filepath.Join(store, "arenas"))
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(arenas)) {
		if err := os.MkdirAll(filepath.Join(store, "upper", a), 0o755); err != nil {
			return err
		}
	}
	root, err := gofs.NewLoopbackRoot(filepath.Join(store, "fakelower"))
	if err != nil {
		return err
	}
	lower := filepath.Join(store, "lower")
	srv, err := gofs.Mount(lower, root, &gofs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: "fakereal"}})
	if err != nil {
		return fmt.Errorf("fuse at %s: %w", lower, err)
	}
	defer srv.Unmount()
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(store, "upper"), filepath.Join(store, "work"))
	if err := syscall.Mount("overlay", mount, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay at %s: %w", mount, err)
	}
	fmt.Fprintln(os.Stderr, "fake real: ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Fprintln(os.Stderr, "fake real: stopping")
	return syscall.Unmount(mount, 0)
}

// fakeBin writes a script that runs the test binary as fakeReal.
func fakeBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-real")
	script := fmt.Sprintf("#!/bin/sh\n%s=fakereal exec %s -test.run='^$' -- \"$@\"\n", helperEnv, os.Args[0])
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// The household's life cycle, against the stand-in.
func TestHouseholdLifecycle(t *testing.T) {
	privtest.Require(t)
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b"}, Arenas: []harness.Arena{{Name: "shared"}, {Name: "music", Policy: "own"}}, Bin: fakeBin(t)})
	a, b := h.Peer("a"), h.Peer("b")
	if got := a.Key; got != "ed25519:fake-a" {
		t.Fatalf("a's key %q", got)
	}
	peers, err := os.ReadFile(filepath.Join(a.Store, "peers"))
	if want := "b " + b.Addr.String() + " ed25519:fake-b\n"; err != nil || string(peers) != want {
		t.Fatalf("a's pinned peers %q (%v), want %q", peers, err, want)
	}
	if b.Addr.Port() != harness.Port || a.Addr.Addr() != a.IP {
		t.Fatalf("addresses %v %v", a.Addr, b.Addr)
	}

	a.Start()
	b.Start()
	if names, err := a.ReadDir("."); err != nil || !slices.Equal(names, []string{"music", "shared"}) {
		t.Fatalf("a's merged root: %q, %v", names, err)
	}
	if _, err := a.Read("../escape"); !errors.Is(err, harness.ErrBadPath) {
		t.Fatalf("Read of ../escape: %v, want ErrBadPath", err)
	}

	// Written through the merged view, the file lands in the upper.
	a.Write("shared/dir/x", []byte("one"))
	if got, err := a.Read("shared/dir/x"); err != nil || string(got) != "one" {
		t.Fatalf("a reads back %q, %v", got, err)
	}
	if got, err := os.ReadFile(a.UpperPath("shared/dir/x")); err != nil || string(got) != "one" {
		t.Fatalf("a's upper has %q, %v", got, err)
	}
	// The mounts are a's alone: not on the host, not in b's namespace.
	if left, err := harness.MountsUnder("/proc/mounts", h.Dir); err != nil || len(left) > 0 {
		t.Fatalf("host mounts under the household: %v, %v", left, err)
	}
	if _, err := b.Stat("shared/dir/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b sees a's file without any sync: %v", err)
	}
	inA, _ := harness.MountsUnder(fmt.Sprintf("/proc/%d/mounts", a.PID()), a.Store)
	inB, _ := harness.MountsUnder(fmt.Sprintf("/proc/%d/mounts", b.PID()), a.Store)
	if len(inA) != 1 || len(inB) != 0 {
		t.Fatalf("mounts under a's store: in a %v, in b %v", inA, inB)
	}

	// Stopped, the view is gone; changes go to the upper; Start shows them.
	a.Stop()
	if _, err := a.Read("shared/dir/x"); !errors.Is(err, harness.ErrNotRunning) {
		t.Fatalf("Read of a stopped peer: %v, want ErrNotRunning", err)
	}
	a.WriteUpper("shared/y", []byte("two"))
	a.RemoveUpper("shared/dir/x")
	a.Start()
	if got, err := a.Read("shared/y"); err != nil || string(got) != "two" {
		t.Fatalf("after restart a reads %q, %v", got, err)
	}
	if _, err := a.Stat("shared/dir/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed in the upper, still seen: %v", err)
	}

	// Killed, it leaves no mount behind, and starts again in a fresh namespace.
	old := a.PID()
	a.Kill()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", old)); err == nil {
		t.Fatalf("pid %d still there after Kill", old)
	}
	a.Start()
	a.Remove("shared/y")
	a.Restart()
	if names, err := a.ReadDir("shared"); err != nil || !slices.Equal(names, []string{"dir"}) {
		t.Fatalf("a's shared after all that: %q, %v", names, err)
	}

	log, err := os.ReadFile(a.LogPath)
	if err != nil || strings.Count(string(log), "=== harness: start #") != 4 || strings.Count(string(log), "fake real: ready") != 4 {
		t.Fatalf("a's log does not show 4 starts:\n%s", log)
	}
	// b is left running: the cleanup stops it.
}
