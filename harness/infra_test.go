package harness_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/realsync/real/harness"
	"github.com/realsync/real/privtest"
)

// The tests in this file check the harness itself, without the real binary.

// fetch runs the helper's get inside node from and returns what it got.
func fetch(from *harness.Node, addr netip.AddrPort) (string, error) {
	env, args := helper("get", "http://"+addr.String()+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := from.Command(ctx, args[0], args[1:]...)
	cmd.Env = append(harness.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("get %s from %s: %w: %s", addr, from.Name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func startServer(t *testing.T, n *harness.Node) netip.AddrPort {
	t.Helper()
	addr := netip.AddrPortFrom(n.IP, 8080)
	env, args := helper("serve", addr.String())
	n.Start(t, filepath.Join(t.TempDir(), n.Name+".log"), env, args...)
	return addr
}

func TestNodesReachEachOther(t *testing.T) {
	privtest.Require(t)
	nw := harness.NewNetwork(t, "a", "b", "c")
	a, b, c := nw.Node(t, "a"), nw.Node(t, "b"), nw.Node(t, "c")
	if !nw.Subnet.Contains(a.IP) || a.IP == b.IP || !netip.MustParsePrefix("10.231.0.0/16").Contains(a.IP) {
		t.Fatalf("addresses: subnet %v, a %v, b %v", nw.Subnet, a.IP, b.IP)
	}
	srvA, srvB := startServer(t, a), startServer(t, b)
	want := "hello from " + srvA.String()
	harness.Eventually(t, 10*time.Second, func() error {
		got, err := fetch(b, srvA)
		if err == nil && got != want {
			err = fmt.Errorf("got %q, want %q", got, want)
		}
		return err
	})
	harness.Eventually(t, 10*time.Second, func() error { _, err := fetch(c, srvB); return err })
	harness.Eventually(t, 10*time.Second, func() error { _, err := fetch(a, srvB); return err })
}

func TestCutOffAndHeal(t *testing.T) {
	privtest.Require(t)
	nw := harness.NewNetwork(t, "a", "b", "c")
	a, b, c := nw.Node(t, "a"), nw.Node(t, "b"), nw.Node(t, "c")
	srvA, srvB := startServer(t, a), startServer(t, b)
	harness.Eventually(t, 10*time.Second, func() error { _, err := fetch(b, srvA); return err })

	a.CutOff(t)
	if got, err := fetch(b, srvA); err == nil {
		t.Fatalf("b reached cut-off a: %q", got)
	}
	if got, err := fetch(a, srvB); err == nil {
		t.Fatalf("cut-off a reached b: %q", got)
	}
	// The others still reach each other.
	harness.Eventually(t, 10*time.Second, func() error { _, err := fetch(c, srvB); return err })

	a.Heal(t)
	harness.Eventually(t, 15*time.Second, func() error { _, err := fetch(b, srvA); return err })
	harness.Eventually(t, 15*time.Second, func() error { _, err := fetch(a, srvB); return err })
}

// A mount made by a process in a node stays in that process's mount
// namespace: not on the host, but seen through /proc/PID/root.
func TestMountsArePrivateToTheNode(t *testing.T) {
	privtest.Require(t)
	nw := harness.NewNetwork(t, "a")
	a := nw.Node(t, "a")
	dir := t.TempDir()
	env, args := helper("tmpfs", dir)
	p := a.Start(t, filepath.Join(t.TempDir(), "tmpfs.log"), env, args...)
	inside := filepath.Join(p.Root(), dir, "inside")
	harness.Eventually(t, 10*time.Second, func() error {
		if !p.Running() {
			return fmt.Errorf("helper exited: %s", harness.Tail(p.LogPath, 20))
		}
		_, err := os.Stat(inside)
		return err
	})
	if b, err := os.ReadFile(inside); err != nil || string(b) != "only in here" {
		t.Fatalf("via /proc/PID/root: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "inside")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file in the node's tmpfs seen on the host: %v", err)
	}
	if left, err := harness.MountsUnder("/proc/mounts", dir); err != nil || len(left) > 0 {
		t.Fatalf("host mount table under %s: %v, %v", dir, left, err)
	}
	in, err := harness.MountsUnder(fmt.Sprintf("/proc/%d/mounts", p.PID()), dir)
	if err != nil || !slices.Equal(in, []string{dir}) {
		t.Fatalf("node's mount table under %s: %v, %v; want the tmpfs", dir, in, err)
	}
	// The pid is the helper's own (ip netns exec execs in place).
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID())); err != nil || filepath.Base(exe) == "ip" {
		t.Fatalf("pid %d runs %q (%v), want the helper", p.PID(), exe, err)
	}

	// Killed, its mount namespace and the tmpfs go with it.
	p.Kill()
	if _, err := os.Stat(inside); err == nil {
		t.Fatalf("%s still there after kill", inside)
	}
}

// Everything a network makes is gone once its test is over.
func TestCleanupLeavesNothing(t *testing.T) {
	privtest.Require(t)
	var names []string
	var pids []int
	dir := t.TempDir()
	dirs := []string{dir}
	t.Run("make", func(t *testing.T) {
		nw := harness.NewNetwork(t, "a", "b")
		names = nw.Namespaces()
		for _, ns := range names {
			if _, err := os.Stat("/run/netns/" + ns); err != nil {
				t.Fatalf("namespace %s not made: %v", ns, err)
			}
		}
		a := nw.Node(t, "a")
		env, args := helper("tmpfs", dir)
		p := a.Start(t, filepath.Join(t.TempDir(), "tmpfs.log"), env, args...)
		pids = append(pids, p.PID())
		harness.Eventually(t, 10*time.Second, func() error {
			_, err := os.Stat(filepath.Join(p.Root(), dir, "inside"))
			return err
		})
		// A process started behind the harness's back is killed too.
		cmd := nw.Node(t, "b").Command(context.Background(), "sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, cmd.Process.Pid)
		go cmd.Wait()
		startServer(t, a)
	})
	t.Run("household", func(t *testing.T) {
		h := harness.New(t, harness.Setup{Peers: []string{"a", "b"}, Arenas: []harness.Arena{{Name: "shared"}}, Bin: fakeBin(t)})
		names = append(names, h.Net.Namespaces()...)
		for _, p := range h.Peers() {
			p.Start()
			pids = append(pids, p.PID())
			p.Write("shared/f", []byte("x"))
		}
		dirs = append(dirs, h.Dir)
	})
	if len(names) != 6 {
		t.Fatalf("namespaces: %v", names)
	}
	for _, ns := range names {
		if _, err := os.Stat("/run/netns/" + ns); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left: %v", ns, err)
		}
	}
	harness.Eventually(t, 5*time.Second, func() error {
		for _, pid := range pids {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(st, []byte(") Z ")) {
				return fmt.Errorf("pid %d still running", pid)
			}
		}
		return nil
	})
	for _, d := range dirs {
		if left, err := harness.MountsUnder("/proc/mounts", d); err != nil || len(left) > 0 {
			t.Errorf("mounts left under %s: %v, %v", d, left, err)
		}
	}
}

// Namespaces left by a harness process that died are deleted by the next.
func TestStaleNamespacesSwept(t *testing.T) {
	privtest.Require(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("rh%d-dead00-a", dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" { // CI has ip netns: a skip there would hide breakage
			t.Fatalf("cannot make namespace %s: %v: %s", stale, err, out)
		}
		t.Skipf("cannot make namespace %s: %v: %s", stale, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	harness.NewNetwork(t, "a")
	if _, err := os.Stat("/run/netns/" + stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale namespace %s not swept: %v", stale, err)
	}
}

func TestTail(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	os.WriteFile(f, []byte("1\n2\n3\n4\n"), 0o644)
	for n, want := range map[int]string{0: "", 1: "4", 2: "3\n4", 4: "1\n2\n3\n4", 9: "1\n2\n3\n4"} {
		if got := harness.Tail(f, n); got != want {
			t.Errorf("Tail(%d) = %q, want %q", n, got, want)
		}
	}
}
